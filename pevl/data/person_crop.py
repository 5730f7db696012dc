"""Person-centred crops (`train.crop: person`): the video follows the tracked person, frame by frame.

A frame-wide crop of SynthDive's 128x96 frames resized to the demo's 48 px leaves the diver about
13 px tall, under two 8 px patches of the tiny backbone, so the frames show little of the body.
A person crop keeps the diver at a fixed share of the view: every frame gets a square box centred on
its pose's joint box (frames without a pose take the centre interpolated from their neighbours), all
of one side per clip, `margin` x the clip's 90th-percentile joint extent (at least `MIN_SIDE_PX`,
at most the frame's short side), shifted inside the frame. Training draws one side scale and one
centre shift per clip (`jitter`); evaluation uses none. The joints are mapped with each frame's own
box (`crop_pose`), so video and pose stay aligned; UCMR sees the joints where the view shows them.

The boxes come from the pose stage's track, not from labels: with `poses.backend: rtmlib` the
detector decides where the view looks. A clip without any pose falls back to the centre square.
"""

import numpy as np

from pevl.data.transforms import CropBox, centre_crop_boxes, crop_frames, map_joints

MIN_SIDE_PX = 24  # smallest box side in stored-frame pixels (a tiny or one-joint pose)
MIN_JOINTS = 2  # visible joints a frame needs for its box


def _centres_and_extent(pose: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Per-frame joint-box centres (T, 2), interpolated over frames without a pose, and the clip's
    90th-percentile joint extent (the larger side of each frame's joint box); None without any pose."""
    visible = pose[..., 2] > 0
    known = visible.sum(1) >= MIN_JOINTS
    if not known.any():
        return None
    xy = pose[known, :, :2]
    seen = visible[known][..., None]
    lo = np.where(seen, xy, np.inf).min(1)  # (F, 2), float32 like the joints
    hi = np.where(seen, xy, -np.inf).max(1)
    frames = len(pose)
    centres = np.full((frames, 2), np.nan)
    centres[known] = (lo + hi) / 2.0
    extents = (hi - lo).max(1).astype(np.float64)
    index = np.arange(frames)
    for d in range(2):
        centres[:, d] = np.interp(index, index[known], centres[known, d])
    return centres, float(np.percentile(extents, 90))


def person_boxes(
    pose: np.ndarray, height: int, width: int, margin: float, jitter: float = 0.0,
    rng: np.random.Generator | None = None,
) -> list[CropBox]:
    """One square box per stored frame around the tracked person (module doc).

    Args:
        pose: (T_store, K, 3) stored-frame pixels, score (0 = missing).
        height, width: stored frame size.
        margin: box side / the clip's joint extent.
        jitter: with rng, the side is scaled by exp(U(log(1 - jitter), log(1 + jitter))) and the
            centre shifted by U(-jitter, jitter) x side / 2 on each axis, once per clip.
        rng: training randomness, or None (evaluation: no jitter).
    Returns:
        T_store boxes inside the frame.
    """
    found = _centres_and_extent(pose)
    if found is None:
        return centre_crop_boxes(height, width, 1) * len(pose)
    centres, extent = found
    side = margin * extent
    if rng is not None and jitter > 0:
        side *= float(np.exp(rng.uniform(np.log(1.0 - jitter), np.log(1.0 + jitter))))
        centres = centres + rng.uniform(-jitter, jitter, 2) * side / 2.0
    s = int(round(min(min(height, width), max(MIN_SIDE_PX, side))))
    boxes = []
    for cx, cy in centres:
        x0 = min(max(int(round(cx - s / 2.0)), 0), width - s)
        y0 = min(max(int(round(cy - s / 2.0)), 0), height - s)
        boxes.append(CropBox(x0, y0, s, s))
    return boxes


def crop_person(
    frames: np.ndarray, pose: np.ndarray, video_idx: np.ndarray, pose_idx: np.ndarray, boxes: list[CropBox],
    size: int, flip: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Crop the sampled video and pose frames, each with its own stored frame's box.

    Args:
        frames: (T_store, H, W, 3) uint8; pose: (T_store, K, 3) stored-frame pixels.
        video_idx: (T,) and pose_idx: (Tp,) stored-frame indices; boxes: one per stored frame.
    Returns:
        video (T, size, size, 3) uint8 and pose (Tp, K, 3) crop coordinates.
    """
    video = np.stack([crop_frames(frames[i : i + 1], boxes[i], size, flip)[0] for i in video_idx])
    x0, y0, w, h = (np.array([[getattr(boxes[i], a)] for i in pose_idx], np.float32) for a in ("x0", "y0", "w", "h"))
    return video, map_joints(pose[pose_idx], x0, y0, w, h, flip)
