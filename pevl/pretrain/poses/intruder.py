"""A second person pasted beside the diver a few frames into a clip.

The intruder is another clip's diver rendered at `scale` times the size, cut out by rendering its
frames with and without the body, and pasted right beside the diver's box (the camera keeps the
diver near the centre, so the intruder is about as central) from frame `first` on.

The evaluation pastes a larger one (INTRUDER_SCALE) from frame T // 4: does the track stay on the
diver? Training pastes some of every size so that the detector finds every person in a frame,
not only the most salient one (identity is the tracker's job).
"""

import cv2
import numpy as np

from pevl.pretrain.poses.data import ClipSample, diver_boxes
from pevl.synth.render import build_scene, iter_frames, keypoints
from pevl.synth.vocab import dive_classes
from pose_extraction.ground_truth import scale_keypoints
from pose_extraction.tracking import box_iou
from pose_extraction.types import PoseTrack

INTRUDER_SCALE = 1.4
MASK_THRESHOLD = 12  # grey levels between the frames with and without the body


def _cutout(seed: int, index: int, render: tuple[int, int], stored: tuple[int, int], picked: list[int], scale: float):
    """Another diver at `scale`: (T, h, w, 3) RGB frames, (T, h, w) masks, (T, 4) boxes in its own frame."""
    from pose_extraction.video import uniform_indices

    size = (int(render[0] * scale) // 2 * 2, int(render[1] * scale) // 2 * 2)
    scene = build_scene(dive_classes()[index % 48], (seed, 7, index), size, 30)
    frames = uniform_indices(0, scene.num_frames, len(picked))
    big = (int(stored[0] * scale), int(stored[1] * scale))
    wanted = set(frames)

    def pick(draw_body: bool) -> np.ndarray:
        kept = {i: f for i, f in enumerate(iter_frames(scene, draw_body)) if i in wanted}
        return np.stack([cv2.resize(kept[i], big, interpolation=cv2.INTER_AREA)[..., ::-1] for i in frames])

    with_body, without = pick(True), pick(False)
    masks = np.abs(with_body.astype(np.int16) - without).max(axis=3) > MASK_THRESHOLD
    joints = scale_keypoints(keypoints(scene)[frames], size, big)
    return with_body, masks, diver_boxes(joints, scene.camera.scale[frames] * big[0] / size[0], big)


def add_intruder(clip: ClipSample, render: tuple[int, int], seed: int, index: int, scale: float = INTRUDER_SCALE,
                 first: int | None = None) -> tuple[ClipSample, np.ndarray, int]:
    """clip with the intruder pasted from `first` (default T // 4); returns (new clip, (T, 4) intruder boxes, first)."""
    t, h, w = clip.frames.shape[:3]
    first = t // 4 if first is None else first
    rgb, masks, boxes = _cutout(seed, index, render, (w, h), list(range(t)), scale)
    frames = clip.frames.copy()
    intruder = np.zeros((t, 4), np.float32)
    for i in range(first, t):
        if not boxes[i].any() or not clip.boxes[i].any():
            continue
        own, diver = boxes[i], clip.boxes[i]
        side = 1 if (diver[0] + diver[2]) / 2 < w / 2 else -1  # toward the wider side of the frame
        half = (own[2] - own[0]) / 2 + 2
        cx = ((diver[2] + half) if side > 0 else (diver[0] - half))
        cy = (diver[1] + diver[3]) / 2
        dx, dy = int(round(cx - (own[0] + own[2]) / 2)), int(round(cy - (own[1] + own[3]) / 2))
        _paste(frames[i], rgb[i], masks[i], dx, dy)
        intruder[i] = np.clip(own + [dx, dy, dx, dy], 0, [w, h, w, h])
    return ClipSample(frames, clip.joints, clip.boxes, clip.seed), intruder, first


def _paste(frame: np.ndarray, src: np.ndarray, mask: np.ndarray, dx: int, dy: int) -> None:
    """Copy src's masked pixels into frame, shifted by (dx, dy), clipped to the frame."""
    h, w = frame.shape[:2]
    ys, xs = np.nonzero(mask)
    ty, tx = ys + dy, xs + dx
    keep = (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
    frame[ty[keep], tx[keep]] = src[ys[keep], xs[keep]]


def identity_kept(track: PoseTrack, clip: ClipSample, intruder: np.ndarray, first: int) -> tuple[int, int]:
    """(frames where the track is on the diver, frames counted): frames from `first` with both people present."""
    kept = counted = 0
    for i in range(first, len(track.bboxes)):
        if not intruder[i].any() or not clip.boxes[i].any():
            continue
        counted += 1
        box = track.bboxes[i]
        if box.any() and box_iou(box, clip.boxes[i][None])[0] > box_iou(box, intruder[i][None])[0]:
            kept += 1
    return kept, counted


def with_intruders(clips: list[ClipSample], seed: int, every: int = 3) -> tuple[list[ClipSample], list[np.ndarray]]:
    """Every `every`-th clip (from the second) gets a second person of random size and entry frame.

    Returns the clips and, per clip, the (T, 4) boxes of its second person (zeros where none).
    """
    from pevl.pretrain.poses.data import STORED_SIZES

    rng = np.random.default_rng([seed, 8])
    out, others = [], []
    for i, clip in enumerate(clips):
        if i % every != 1:
            out.append(clip)
            others.append(np.zeros_like(clip.boxes))
            continue
        scale, first = float(rng.uniform(0.7, 1.5)), int(rng.integers(0, len(clip.frames) // 2))
        mixed, boxes, _ = add_intruder(clip, STORED_SIZES[i % len(STORED_SIZES)][:2], seed, i, scale, first)
        out.append(mixed)
        others.append(boxes)
    return out, others
