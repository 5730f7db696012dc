"""Clip transforms applied identically to frames and joints: frame sampling, crop, flip, resize.

Coordinate convention: pose (x, y) are in stored-frame pixels with pixel centres at integers
(pixel i covers [i - 0.5, i + 0.5)). A crop box (x0, y0, w, h) takes pixels x0 .. x0 + w - 1, so
a joint's crop coordinate is u = (x - x0 + 0.5) / w in [0, 1]; in an S-pixel output it sits at
column u * S - 0.5, which is where cv2's bilinear resize sends that pixel. A flip maps u -> 1 - u
(= column S - 1 - c) and swaps the COCO left/right joints, so a joint still names its body part.
"""

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

# COCO-17 left/right pairs: eyes, ears, shoulders, elbows, wrists, hips, knees, ankles.
COCO_FLIP_PAIRS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))


@dataclass(frozen=True)
class CropBox:
    """An integer pixel box of a stored frame: columns x0 .. x0+w-1, rows y0 .. y0+h-1."""

    x0: int
    y0: int
    w: int
    h: int


def flip_permutation(num_joints: int) -> np.ndarray:
    """Joint index permutation of a horizontal flip (COCO pairs swapped; identity otherwise)."""
    perm = np.arange(num_joints)
    if num_joints == 17:
        for a, b in COCO_FLIP_PAIRS:
            perm[a], perm[b] = b, a
    return perm


def segment_indices(total: int, count: int, offset: float | None, rng: np.random.Generator | None) -> np.ndarray:
    """Pick one index in each of `count` equal segments of range(total).

    offset in [0, 1) picks the same relative position in every segment (0.5 = centre, the eval
    path); offset None draws a random position per segment from rng (the training path).
    """
    edges = np.linspace(0.0, float(total), count + 1)
    width = edges[1:] - edges[:-1]
    pos = rng.random(count) if offset is None else np.full(count, offset)
    idx = np.floor(edges[:-1] + pos * width).astype(np.int64)
    return np.clip(idx, 0, total - 1)


def aligned_indices(
    total: int, frames: int, ratio: int, offset: float | None, rng: np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray]:
    """Sample Tp = ratio * T pose indices by segments; video frame t is the first pose frame of its group.

    Returns (video (T,), pose (Tp,)) indices into the stored frames; pose frames
    t*ratio .. t*ratio+ratio-1 belong to video frame t, which shows the first of them (what the
    model's `pose_align: pick` selects; `pool` averages the group's joint tokens, while UCMR places
    the joints of this first frame on the video frame).
    """
    pose = segment_indices(total, frames * ratio, offset, rng)
    video = pose.reshape(frames, ratio)[:, 0]
    return video, pose


def random_crop_box(
    height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float], rng: np.random.Generator
) -> CropBox:
    """Random resized crop box (area fraction in scale, aspect w/h in ratio); centre square fallback."""
    area = float(height * width)
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            x0 = int(rng.integers(0, width - w + 1))
            y0 = int(rng.integers(0, height - h + 1))
            return CropBox(x0, y0, w, h)
    return centre_crop_boxes(height, width, 1)[0]


def centre_crop_boxes(height: int, width: int, crops: int) -> list[CropBox]:
    """Square crops of side min(H, W): the centre one, or `crops` spread along the long side."""
    side = min(height, width)
    if crops == 1:
        return [CropBox((width - side) // 2, (height - side) // 2, side, side)]
    boxes = []
    for i in range(crops):
        frac = i / (crops - 1)
        boxes.append(CropBox(int(round(frac * (width - side))), int(round(frac * (height - side))), side, side))
    return boxes


def crop_frames(frames: np.ndarray, box: CropBox, size: int, flip: bool) -> np.ndarray:
    """Crop, resize to size x size (bilinear), optionally mirror.

    Args:
        frames: (T, H, W, 3) uint8.
    Returns:
        (T, size, size, 3) uint8.
    """
    out = np.empty((frames.shape[0], size, size, 3), dtype=np.uint8)
    for t, frame in enumerate(frames):
        patch = frame[box.y0 : box.y0 + box.h, box.x0 : box.x0 + box.w]
        out[t] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_LINEAR)
    if flip:
        out = out[:, :, ::-1]
    return np.ascontiguousarray(out)


def crop_pose(pose: np.ndarray, box: CropBox, flip: bool) -> np.ndarray:
    """Map joints from stored-frame pixels to [0, 1] crop coordinates (same crop and flip as frames).

    Joints outside the crop keep their (out-of-range) coordinates but get score 0.

    Args:
        pose: (Tp, K, 3) float32 x, y (pixels), score.
    Returns:
        (Tp, K, 3) float32 x, y in [0, 1] of the crop, score.
    """
    return map_joints(pose, box.x0, box.y0, box.w, box.h, flip)


def map_joints(pose: np.ndarray, x0: Any, y0: Any, w: Any, h: Any, flip: bool) -> np.ndarray:
    """`crop_pose` with one box or one box per frame.

    Args:
        pose: (Tp, K, 3) float32 stored-frame pixels, score.
        x0, y0, w, h: ints (one box), or float32 arrays of shape (Tp, 1) (each frame's own box;
            float32 so the arithmetic is the one-box case's, bit for bit).
    Returns:
        (Tp, K, 3) float32 crop coordinates, score (0 outside the crop).
    """
    out = pose.astype(np.float32, copy=True)
    out[..., 0] = (pose[..., 0] - x0 + 0.5) / w
    out[..., 1] = (pose[..., 1] - y0 + 0.5) / h
    outside = (out[..., 0] < 0) | (out[..., 0] > 1) | (out[..., 1] < 0) | (out[..., 1] > 1)
    out[..., 2] = np.where(outside, 0.0, out[..., 2])
    if flip:
        out[..., 0] = 1.0 - out[..., 0]
        out = out[:, flip_permutation(out.shape[1])]
    return np.ascontiguousarray(out)
