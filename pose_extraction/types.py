"""The estimator interface shared by every pose backend and by the pipeline's poses stage."""

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class FrameContext:
    """Where a clip's stored frames came from (the ground-truth backend needs it; rtmlib ignores it).

    Attributes:
        clip_id: the clip's id.
        source: the video path relative to the dataset root.
        dataset_root: absolute dataset root.
        frame_indices: source frame index of each stored frame, length T.
        source_size: (width, height) of the source video.
    """

    clip_id: str
    source: str
    dataset_root: Path
    frame_indices: tuple[int, ...]
    source_size: tuple[int, int]


@dataclass(frozen=True)
class PoseTrack:
    """The main person's 2D pose in every stored frame.

    Attributes:
        keypoints: (T, K, 3) float32: x, y in stored-frame pixels, score in [0, 1]; 0 = missing.
        bboxes: (T, 4) float32 x1, y1, x2, y2 in stored-frame pixels; zeros where no person.
    """

    keypoints: np.ndarray
    bboxes: np.ndarray


def check_frames(frames: np.ndarray) -> None:
    """ValueError unless `frames` is a clip as every backend takes it: (T, H, W, 3) uint8 RGB."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}")


class PoseEstimator(Protocol):
    """A pose backend: stored frames of one clip -> the main person's track."""

    backend: str
    model: str

    def estimate(self, frames: np.ndarray, context: FrameContext) -> PoseTrack:
        """Args: frames (T, H, W, 3) uint8 RGB. Returns the main person's PoseTrack."""
        ...
