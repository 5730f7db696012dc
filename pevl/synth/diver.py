"""Drawing the diver: depth-sorted limbs, torso, neck and head in per-clip colours (BGR).

Everything that can be computed for all frames at once (pixel points, draw order, widths) is,
in `track_diver`; `draw_diver` then only issues the OpenCV calls of one frame.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from pevl.synth.skeleton import Body

SKIN_TONES = np.array([(190, 215, 245), (150, 190, 230), (120, 160, 210), (90, 125, 175), (60, 85, 125), (45, 60, 90)], float)
# (joint a, joint b, width in metres, is a thigh) for the limbs, COCO indices; left limbs first.
LIMBS = (
    (5, 7, 0.09, False), (7, 9, 0.075, False), (11, 13, 0.16, True), (13, 15, 0.11, False),
    (6, 8, 0.09, False), (8, 10, 0.075, False), (12, 14, 0.16, True), (14, 16, 0.11, False),
)
# Widths in metres of the torso line, neck, hip line and shoulder line.
TRUNK_WIDTHS = (0.24, 0.11, 0.16, 0.1)
SHOULDER, HIP, HEAD, NECK = 17, 18, 19, 20  # extra points after the 17 joints
TORSO_PART, HEAD_PART = len(LIMBS), len(LIMBS) + 1


@dataclass(frozen=True)
class Look:
    """A diver's colours: skin, swimsuit, optional cap, and the colour of each limb of LIMBS."""

    skin: tuple[int, int, int]
    suit: tuple[int, int, int]
    cap: tuple[int, int, int] | None
    limbs: tuple[tuple[int, int, int], ...]


def _c(color) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(color, 0, 255))


def sample_look(rng: np.random.Generator) -> Look:
    """Draw skin tone, suit colour (sometimes covering the thighs) and cap for one diver."""
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] + rng.normal(0, 8, 3)
    suit = rng.uniform(0, 255, 3)
    cap = _c(rng.uniform(0, 255, 3)) if rng.random() < 0.3 else None
    long_suit = rng.random() < 0.4
    # Left limbs a little darker, so the two sides can be told apart.
    limbs = tuple(_c((suit if thigh and long_suit else skin) * (0.82 if k < 4 else 1.0))
                  for k, (_, _, _, thigh) in enumerate(LIMBS))
    return Look(_c(skin), _c(suit), cap, limbs)


@dataclass(frozen=True)
class DiverTrack:
    """Per-frame drawing data of a clip.

    Attributes:
        points: (T, 21, 2) int pixels: the 17 joints, mid-shoulder, mid-hip, head centre, neck.
        order: (T, 10) parts far to near: 0-7 the LIMBS, 8 the trunk, 9 the head.
        limb_px: (T, 8) limb widths; trunk_px: (T, 4) TRUNK_WIDTHS in pixels; head_px: (T,) radius.
        cap_angle: (T,) degrees of the head's up direction in the image.
    """

    points: np.ndarray
    order: np.ndarray
    limb_px: np.ndarray
    trunk_px: np.ndarray
    head_px: np.ndarray
    cap_angle: np.ndarray


def track_diver(pix: np.ndarray, depth: np.ndarray, px_per_m: np.ndarray, body: Body) -> DiverTrack:
    """Prepare the drawing of every frame.

    Args:
        pix: (T, 17, 2) joint pixels.
        depth: (T, 17) joint depth toward the camera (larger = nearer).
        px_per_m: (T,) pixels per metre at the diver.
    """
    sh, hp, head = pix[:, 5:7].mean(axis=1), pix[:, 11:13].mean(axis=1), pix[:, 3:5].mean(axis=1)
    extra = np.stack([sh, hp, head, sh + 0.55 * (head - sh)], axis=1)
    points = np.rint(np.concatenate([pix, extra], axis=1)).astype(np.int32)
    a, b = [x for x, _, _, _ in LIMBS], [x for _, x, _, _ in LIMBS]
    part_depth = np.concatenate([0.5 * (depth[:, a] + depth[:, b]), depth[:, [5, 6, 11, 12]].mean(axis=1, keepdims=True),
                                 depth[:, 3:5].mean(axis=1, keepdims=True)], axis=1)
    to_px = lambda m: np.maximum(2, np.rint(np.multiply.outer(px_per_m, m))).astype(int)  # noqa: E731
    up = head - sh
    return DiverTrack(points, np.argsort(part_depth, axis=1, kind="stable"), to_px(np.array([w for _, _, w, _ in LIMBS])),
                      to_px(np.array(TRUNK_WIDTHS)), np.maximum(2, np.rint(1.15 * body.head_r * px_per_m)).astype(int),
                      np.degrees(np.arctan2(up[:, 1], up[:, 0])))


def draw_diver(img: np.ndarray, track: DiverTrack, i: int, look: Look) -> None:
    """Draw frame i of the diver into the (H, W, 3) uint8 BGR img, far parts first."""
    p = [tuple(xy) for xy in track.points[i].tolist()]
    limb_px, trunk_px = track.limb_px[i].tolist(), track.trunk_px[i].tolist()
    for part in track.order[i].tolist():
        if part < TORSO_PART:
            a, b, _, _ = LIMBS[part]
            cv2.line(img, p[a], p[b], look.limbs[part], limb_px[part])
        elif part == TORSO_PART:
            cv2.line(img, p[SHOULDER], p[NECK], look.skin, trunk_px[1])
            cv2.fillConvexPoly(img, track.points[i, [5, 6, 12, 11]], look.suit)
            cv2.line(img, p[SHOULDER], p[HIP], look.suit, trunk_px[0])
            cv2.line(img, p[11], p[12], look.suit, trunk_px[2])
            cv2.line(img, p[5], p[6], look.skin, trunk_px[3])
        else:
            r = int(track.head_px[i])
            cv2.circle(img, p[HEAD], r, look.skin, -1)
            if look.cap is not None:
                cv2.ellipse(img, p[HEAD], (r, r), float(track.cap_angle[i]), -80, 80, look.cap, -1)
