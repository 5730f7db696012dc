"""Ground-truth backend: SynthDive's stored joints, optionally with detector-like errors.

Reads `<dataset_root>/keypoints/<video stem>.npy`, float32 (T_src, K, 3): x, y in source pixels and
visibility. Picks the stored frames, scales to the stored frame size, then adds the errors a
detector makes: Gaussian jitter, dropped joints (kept in place with a low score) and left/right
swaps of whole frames. The errors are drawn from a generator seeded by (noise seed, clip id), so a
clip always gets the same errors, whichever worker or order processes it.
"""

import hashlib
from pathlib import Path

import numpy as np

from pose_extraction.types import FrameContext, PoseTrack

# COCO-17 left/right joint pairs: eyes, ears, shoulders, elbows, wrists, hips, knees, ankles
COCO_FLIP_PAIRS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))
# a dropped joint's score is drawn below this
DROPPED_SCORE_MAX = 0.1
# boxes enclose the visible joints, grown about their centre as rtmlib's pose_to_bbox does
BOX_EXPANSION = 1.25


class GroundTruthEstimator:
    """PoseEstimator over stored ground-truth keypoints."""

    backend = "ground_truth"

    def __init__(self, jitter_px: float = 0.0, drop_prob: float = 0.0, swap_prob: float = 0.0, seed: int = 0):
        self.jitter_px = jitter_px
        self.drop_prob = drop_prob
        self.swap_prob = swap_prob
        self.seed = seed
        noisy = jitter_px > 0 or drop_prob > 0 or swap_prob > 0
        self.model = (
            f"keypoints+noise(jitter={jitter_px:g},drop={drop_prob:g},swap={swap_prob:g},seed={seed})"
            if noisy else "keypoints"
        )

    def estimate(self, frames: np.ndarray, context: FrameContext) -> PoseTrack:
        """Args: frames (T, H, W, 3) uint8, only their size is used. Returns the stored joints as a PoseTrack."""
        if frames.ndim != 4 or len(frames) != len(context.frame_indices):
            raise ValueError(
                f"clip {context.clip_id}: frames {frames.shape} do not match {len(context.frame_indices)} frame indices"
            )
        joints = load_keypoints(context.dataset_root, context.source)
        picked = pick_frames(joints, context.frame_indices, context.clip_id)
        height, width = frames.shape[1:3]
        keypoints = scale_keypoints(picked, context.source_size, (width, height))
        rng = np.random.default_rng([self.seed, clip_seed(context.clip_id)])
        keypoints = add_noise(keypoints, rng, self.jitter_px, self.drop_prob, self.swap_prob)
        return PoseTrack(keypoints=keypoints, bboxes=boxes_from_keypoints(keypoints, (width, height)))


def keypoints_path(dataset_root: Path, source: str) -> Path:
    """`<dataset_root>/keypoints/<stem of source>.npy`, refused if it would leave the root."""
    root = Path(dataset_root).resolve()
    path = (root / "keypoints" / f"{Path(source).stem}.npy").resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"keypoints for {source!r} would lie outside the dataset root {root}")
    return path


def load_keypoints(dataset_root: Path, source: str) -> np.ndarray:
    """The source video's joints, (T_src, K, 3) float32 x, y, visibility."""
    path = keypoints_path(dataset_root, source)
    if not path.is_file():
        raise FileNotFoundError(f"no ground-truth keypoints for {source}: {path} does not exist")
    joints = np.load(path, allow_pickle=False)
    if joints.ndim != 3 or joints.shape[2] != 3:
        raise ValueError(f"{path}: expected (T, K, 3) keypoints, got shape {joints.shape}")
    return joints.astype(np.float32)


def pick_frames(joints: np.ndarray, frame_indices: tuple[int, ...], clip_id: str) -> np.ndarray:
    """Rows of `joints` (T_src, K, 3) at the stored frames' source indices -> (T, K, 3)."""
    idx = np.asarray(frame_indices, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= len(joints)):
        raise ValueError(
            f"clip {clip_id}: frame indices {idx.min()}..{idx.max()} outside the {len(joints)} keypoint frames"
        )
    return joints[idx].copy()


def scale_keypoints(keypoints: np.ndarray, source_size: tuple[int, int], frame_size: tuple[int, int]) -> np.ndarray:
    """Source pixels -> stored-frame pixels; visibility becomes a score in [0, 1].

    Args:
        keypoints: (T, K, 3) x, y, visibility in source pixels.
        source_size, frame_size: (width, height).
    Returns:
        (T, K, 3) float32.
    """
    out = keypoints.astype(np.float32, copy=True)
    out[..., 0] *= frame_size[0] / source_size[0]
    out[..., 1] *= frame_size[1] / source_size[1]
    out[..., 2] = np.clip(out[..., 2], 0.0, 1.0)
    return out


def add_noise(
    keypoints: np.ndarray, rng: np.random.Generator, jitter_px: float, drop_prob: float, swap_prob: float
) -> np.ndarray:
    """Detector-like errors on seen joints (score > 0); unseen joints stay as they are.

    Args:
        keypoints: (T, K, 3) x, y, score in stored-frame pixels.
    Returns:
        (T, K, 3) float32: jittered x, y; dropped joints' scores below DROPPED_SCORE_MAX;
        left/right joints exchanged in swapped frames.
    """
    out = keypoints.copy()
    seen = out[..., 2] > 0  # (T, K)
    # every draw happens whatever the probabilities, so one error type does not reshuffle another
    jitter = rng.normal(0.0, 1.0, size=out[..., :2].shape).astype(np.float32) * jitter_px
    dropped = (rng.random(seen.shape) < drop_prob) & seen
    low = rng.uniform(0.0, DROPPED_SCORE_MAX, size=seen.shape).astype(np.float32)
    swapped = rng.random(len(out)) < swap_prob
    out[..., :2] += jitter * seen[..., None]
    out[..., 2] = np.where(dropped, low, out[..., 2])
    if out.shape[1] == 17 and swapped.any():
        left, right = (list(side) for side in zip(*COCO_FLIP_PAIRS))
        rows = out[swapped]
        rows[:, left + right] = rows[:, right + left]
        out[swapped] = rows
    return out


def boxes_from_keypoints(keypoints: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """(T, K, 3) -> (T, 4) boxes around joints with score > 0, grown by BOX_EXPANSION, clipped; zeros if none."""
    width, height = frame_size
    boxes = np.zeros((len(keypoints), 4), np.float32)
    for t, frame in enumerate(keypoints):
        seen = frame[frame[:, 2] > 0, :2]
        if len(seen) == 0:
            continue
        lo, hi = seen.min(0), seen.max(0)
        centre, half = (lo + hi) / 2, (hi - lo) / 2 * BOX_EXPANSION
        boxes[t] = np.clip(np.concatenate([centre - half, centre + half]), 0, [width, height, width, height])
    return boxes


def clip_seed(clip_id: str) -> int:
    """A stable 63-bit integer from a clip id (Python's hash() changes between processes)."""
    return int.from_bytes(hashlib.sha256(clip_id.encode("utf-8")).digest()[:8], "little") >> 1
