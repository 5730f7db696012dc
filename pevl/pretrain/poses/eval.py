"""The pose models measured through the pose stage itself: the rtmlib backend and the main-person tracker.

Every figure compares the PoseTrack that `build_estimator(...).estimate(frames)` returns for a
clip of stored frames with the diver's ground truth, on clips rendered with seeds no training
used. "Above water": at least ABOVE_WATER_JOINTS of the 17 joints visible (in the frame, not
under the surface); PCK and pixel errors are over the visible joints of those frames, a frame
the track misses counting as a miss for all of them.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pevl.pretrain.poses.data import ClipSample
from pose_extraction.ground_truth import COCO_FLIP_PAIRS
from pose_extraction.tracking import box_iou
from pose_extraction.types import FrameContext, PoseTrack

ABOVE_WATER_JOINTS = 9
DETECTED_IOU = 0.5
SWAP_SEPARATION = 0.1
JOINT_GROUPS = {"head": (0, 1, 2, 3, 4), "shoulders": (5, 6), "elbows": (7, 8), "wrists": (9, 10),
                "hips": (11, 12), "knees": (13, 14), "ankles": (15, 16)}


@dataclass(frozen=True)
class FrameErrors:
    """Per-frame comparison of tracks with the truth, over all evaluated frames (F of them).

    Attributes:
        above: (F,) bool, diver above water; detected: (F,) bool, track box IoU >= DETECTED_IOU.
        dist: (F, K) pixel distance of each joint (inf where not tracked); visible: (F, K) bool.
        diag: (F,) truth box diagonal; swapped: (F, 2) left/right pairs swapped, pairs counted.
        size: (F,) index into the clip size labels.
    """

    above: np.ndarray
    detected: np.ndarray
    dist: np.ndarray
    visible: np.ndarray
    diag: np.ndarray
    swapped: np.ndarray
    size: np.ndarray


def context_for(clip: ClipSample) -> FrameContext:
    """A FrameContext for rendered frames (the rtmlib backend reads none of it)."""
    t, h, w = clip.frames.shape[:3]
    return FrameContext("eval", "eval.mp4", Path("."), tuple(range(t)), (w, h))


def _iou_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, 4), (T, 4) -> (T,) IoU of matching rows."""
    return np.array([box_iou(x, y[None])[0] for x, y in zip(a, b)])


def _swaps(pred: np.ndarray, truth: np.ndarray, visible: np.ndarray, diag: np.ndarray) -> np.ndarray:
    """(T, K, 2), (T, K, 2), (T, K), (T,) -> (T, 2): left/right pairs swapped, pairs that count.

    A pair counts when both joints are visible and lie at least SWAP_SEPARATION box diagonals
    apart (in a side view left and right nearly coincide and any assignment fits); it is swapped
    when exchanging the two predictions brings both closer to the truth in sum.
    """
    out = np.zeros((len(pred), 2), np.int64)
    for a, b in COCO_FLIP_PAIRS:
        apart = np.linalg.norm(truth[:, a] - truth[:, b], axis=1) >= SWAP_SEPARATION * diag
        counts = visible[:, a] & visible[:, b] & apart
        straight = np.linalg.norm(pred[:, a] - truth[:, a], axis=1) + np.linalg.norm(pred[:, b] - truth[:, b], axis=1)
        crossed = np.linalg.norm(pred[:, a] - truth[:, b], axis=1) + np.linalg.norm(pred[:, b] - truth[:, a], axis=1)
        out[:, 0] += counts & (crossed < straight)
        out[:, 1] += counts
    return out


def compare(track: PoseTrack, clip: ClipSample, size: int) -> FrameErrors:
    """One clip's track against its truth."""
    visible = clip.joints[..., 2] > 0  # (T, K)
    tracked = track.bboxes.any(axis=1)
    detected = tracked & (_iou_rows(track.bboxes, clip.boxes) >= DETECTED_IOU)
    dist = np.linalg.norm(track.keypoints[..., :2] - clip.joints[..., :2], axis=2)
    dist = np.where(tracked[:, None], dist, np.inf)
    diag = np.hypot(*(clip.boxes[:, 2:] - clip.boxes[:, :2]).T)
    swapped = _swaps(track.keypoints[..., :2], clip.joints[..., :2], visible, diag) * tracked[:, None]
    return FrameErrors(visible.sum(1) >= ABOVE_WATER_JOINTS, detected, dist, visible, diag, swapped,
                       np.full(len(visible), size))


def merge(parts: list[FrameErrors]) -> FrameErrors:
    """Concatenate per-clip FrameErrors."""
    return FrameErrors(*(np.concatenate([getattr(p, f) for p in parts]) for f in FrameErrors.__dataclass_fields__))


def _mean(values: np.ndarray) -> float:
    """Mean, NaN for no values (a toy evaluation may have none)."""
    return float(values.mean()) if values.size else float("nan")


def summarise(e: FrameErrors) -> dict:
    """Detection rate, PCK@0.05 / 0.1, per-group mean pixel error, left/right swap rate."""
    above = e.above
    joints = e.visible & above[:, None]  # (F, K)
    rel = e.dist / np.maximum(e.diag, 1e-6)[:, None]
    seen = joints & np.isfinite(e.dist)
    out = {
        "frames_above_water": int(above.sum()),
        "detection_rate": _mean(e.detected[above]),
        "pck_0.05": _mean(rel[joints] <= 0.05),
        "pck_0.1": _mean(rel[joints] <= 0.1),
        "swap_rate": float(e.swapped[above & e.detected, 0].sum() / max(e.swapped[above & e.detected, 1].sum(), 1)),
        "pck_0.1_detected_frames": _mean(rel[joints & e.detected[:, None]] <= 0.1),
        "mean_px_error": {name: _mean(e.dist[:, list(idx)][seen[:, list(idx)]])
                          for name, idx in JOINT_GROUPS.items()},
    }
    return out


def evaluate_clips(estimator, clips: list[ClipSample], sizes: list[int]) -> tuple[dict, dict]:
    """Run the estimator on every clip; returns (overall summary, summary per size index)."""
    parts = [compare(estimator.estimate(clip.frames, context_for(clip)), clip, s) for clip, s in zip(clips, sizes)]
    errors = merge(parts)
    per_size = {}
    for s in sorted(set(sizes)):
        keep = errors.size == s
        per_size[s] = summarise(FrameErrors(*(getattr(errors, f)[keep] for f in FrameErrors.__dataclass_fields__)))
    return summarise(errors), per_size
