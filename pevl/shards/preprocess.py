"""One clip's preprocessing, shared by the data stages and inference: source video -> stored frames -> poses.

The decode stage samples a clip's frames (`sample_source`) and stores them with the configured
codec (`store_frames`); the poses stage and the loader see those frames only as they decode from
the stored clip, and the poses stage runs the estimator on them (`estimate_poses`). `pevl predict`
calls the same three functions on a new video, with `stored_frames` in place of the store-and-read:
the stored codec is lossy (mp4v at the demo's 96 px short side changes pixels by ~8 levels on
average), so a model fed the frames before that round trip would see other inputs than in training.
"""

import tempfile
from pathlib import Path

import numpy as np

from pevl.shards.codec import VIDEO_EXT, decode_clip, encode_clip
from pose_extraction.types import FrameContext, PoseEstimator
from pose_extraction.video import SampledClip, VideoError, sample_clip
from schemas import DecodeConfig


def sample_source(path: Path, start: int, end: int | None, cfg: DecodeConfig) -> SampledClip:
    """`cfg.frames` frames spread uniformly over source frames [start, end), short side `cfg.short_side`.

    Returns a SampledClip with BGR frames (T, H, W, 3), as `store_frames` takes them. Raises
    VideoError or ValueError (a bad input: `decode_failure` is its reject reason).
    """
    return sample_clip(path, start, end, cfg.frames, min_frames=cfg.min_frames, seek_after=cfg.seek_after,
                       short_side=cfg.short_side, rgb=False)


def store_frames(frames: np.ndarray, fps: float, cfg: DecodeConfig, path: Path) -> None:
    """Write BGR frames (T, H, W, 3) as a stored clip at `path` with the configured codec."""
    encode_clip(frames, fps, cfg.codec, path, crf=cfg.h264_crf, rgb=False)


def stored_frames(frames: np.ndarray, fps: float, cfg: DecodeConfig) -> np.ndarray:
    """What a reader decodes from the stored clip of these BGR frames: (T, H, W, 3) uint8 RGB.

    The clip goes through a temporary file, as the stages' clips go through the decoded folder.
    """
    with tempfile.TemporaryDirectory(prefix="pevl-clip-") as folder:
        path = Path(folder) / f"clip.{VIDEO_EXT}"
        store_frames(frames, fps, cfg, path)
        return decode_clip(path.read_bytes())


def estimate_poses(estimator: PoseEstimator, frames: np.ndarray,
                   context: FrameContext) -> tuple[np.ndarray, np.ndarray]:
    """The main person's track in one clip's stored frames, checked.

    Args:
        frames: (T, H, W, 3) uint8 RGB, as decoded from the stored clip.
        context: where the frames came from (the ground-truth backend reads its joints by it).
    Returns:
        keypoints (T, K, 3) float32 in stored-frame pixels + score, bboxes (T, 4) float32.
    Raises:
        ValueError when the estimator's output does not fit the frames (`pose_failure` is the reason).
    """
    t = len(context.frame_indices)
    if frames.shape[0] != t:
        raise ValueError(f"stored clip has {frames.shape[0]} frames, expected {t}")
    track = estimator.estimate(frames, context)
    keypoints = np.asarray(track.keypoints, dtype=np.float32)
    bboxes = np.asarray(track.bboxes, dtype=np.float32)
    if keypoints.ndim != 3 or keypoints.shape[0] != t or keypoints.shape[2] != 3:
        raise ValueError(f"estimator returned keypoints of shape {keypoints.shape}, expected ({t}, K, 3)")
    if bboxes.shape != (t, 4) or not (np.isfinite(keypoints).all() and np.isfinite(bboxes).all()):
        raise ValueError(f"estimator returned boxes {bboxes.shape} (expected ({t}, 4)) or non-finite values")
    return keypoints, bboxes


def decode_failure(exc: Exception) -> str:
    """The reject reason of a source video that cannot be sampled: "<kind>: <details>"."""
    if isinstance(exc, (VideoError, ValueError)):
        return str(exc)
    return f"decode failed: {type(exc).__name__}: {exc}"


def encode_failure(exc: Exception) -> str:
    """The reject reason of sampled frames the stored codec refuses."""
    return f"encode failed: {type(exc).__name__}: {exc}"


def pose_failure(exc: Exception) -> str:
    """The reject reason of a clip whose poses cannot be estimated."""
    return f"poses failed: {type(exc).__name__}: {exc}"
