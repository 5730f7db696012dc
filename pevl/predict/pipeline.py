"""A video file -> the model's inputs, through the very functions the stages and the evaluation loader use.

    decode stage   sample_source: decode.frames frames spread over the range, short side resized;
                   stored_frames: the stored codec's round trip (the frames the pose stage and the
                   loader decode from the stored clip, not the sampled ones: the codec is lossy)
    poses stage    build_estimator(poses) once, then estimate_poses per clip (the main-person track)
    loader         eval_views (clips x crops, or the person's boxes) and collate; `score_views`
                   CLIP-normalises on the device and averages the views, as `pevl evaluate` does

Nothing here repeats a step, so a change to any of them changes training and inference alike.
A video's own fault (unreadable, too short, no person) raises `Rejected`; the machine's (no
space, no memory, I/O errors) raises SystemFault.
"""

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pevl import paths
from pevl.data.loader import collate, eval_views
from pevl.predict.inputs import VideoInput
from pevl.shards.preprocess import (
    decode_failure,
    encode_failure,
    estimate_poses,
    pose_failure,
    sample_source,
    stored_frames,
)
from pevl.storage.faults import fault, is_resource_error
from pevl.storage.outputs import StageError
from pose_extraction import FrameContext, build_estimator
from pose_extraction.build import domain_warning
from pose_extraction.video import SampledClip, VideoError
from schemas import PipelineConfig, PoseConfig

STAGE = "predict"
log = logging.getLogger("pevl.predict")


class Rejected(Exception):
    """A video that cannot be predicted; str(e) is its "<kind>: <details>" reason."""


@dataclass
class ClipFrames:
    """One video's stored frames and main-person poses, as a shard sample holds them.

    Attributes:
        frame_indices: source frame index of each frame.
        frames: (T, H, W, 3) uint8 RGB; keypoints: (T, K, 3) float32 stored-frame pixels + score.
        decode_s, poses_s: seconds spent sampling + in the codec, and in the pose estimator.
        bboxes: (T, 4) float32 the tracked person's box (x0, y0, x1, y1) in stored-frame pixels.
        fps: the source video's frame rate.
    """

    frame_indices: list[int]
    frames: np.ndarray
    keypoints: np.ndarray
    decode_s: float
    poses_s: float
    bboxes: np.ndarray | None = None
    fps: float = 0.0


class ClipPipeline:
    """The model config's decode, pose and view steps, with the pose estimator built once.

    Args:
        cfg: the resolved config stored in the checkpoint.
        dataset_root: where the ground-truth pose backend finds `keypoints/` (default: the
            config's dataset root; other backends ignore it).
        poses: the pose config to run (default cfg.poses; a logged model's points at its own files).
    """

    def __init__(self, cfg: PipelineConfig, dataset_root: Path | None = None, poses: PoseConfig | None = None):
        self.cfg = cfg
        self.dataset_root = Path(dataset_root).resolve() if dataset_root else paths.dataset_root(cfg)
        poses = poses or cfg.poses
        try:
            self.estimator = build_estimator(poses, self.dataset_root)
        except Exception as e:  # missing pose model files, no ground-truth joints: nothing can be predicted
            raise StageError(f"predict: the model's pose estimator (poses.backend={poses.backend}) "
                             f"cannot be built: {type(e).__name__}: {e}") from None
        warning = domain_warning(cfg.poses, "")  # any video may come in: say when the pose models know SynthDive only
        if warning:
            log.warning("%s", warning)

    @property
    def pose_model(self) -> str:
        """The pose backend and its models, e.g. rtmlib:synthdive_det+synthdive_pose."""
        return f"{self.estimator.backend}:{self.estimator.model}"

    def prepare(self, video: VideoInput) -> ClipFrames:
        """Sample, store-and-decode and pose one video; Rejected with its reason when it cannot be."""
        started = time.perf_counter()
        sampled = self._sample(video)
        return self.prepare_sampled(video, sampled, time.perf_counter() - started)

    def prepare_sampled(self, video: VideoInput, sampled: SampledClip, sample_s: float = 0.0) -> ClipFrames:
        """Store-and-decode and pose frames already sampled from `video` as `sample_source` samples them.

        `prepare` without the sampling: a long video's windows are sampled in one pass over the file
        (pevl/predict/windows.py). `sample_s` is the sampling's share of decode_s.
        """
        started = time.perf_counter()
        frames = self._store(video, sampled)
        decoded = time.perf_counter()
        keypoints, bboxes = self._poses(video, sampled, frames)
        return ClipFrames(list(sampled.indices), frames, keypoints, sample_s + decoded - started,
                          time.perf_counter() - decoded, bboxes, sampled.info.fps)

    def views(self, clip: ClipFrames, clips: int, crops: int) -> dict[str, Any]:
        """One clip's evaluation views as a loader batch: video (1, V, T, S, S, 3) uint8, pose (1, V, Tp, K, 3)."""
        video, pose = eval_views(clip.frames, clip.keypoints, self.cfg, clips, crops)
        return collate([{"video": video, "pose": pose, "label": -1, "key": ""}])

    def _sample(self, video: VideoInput) -> SampledClip:
        try:
            return sample_source(video.path, video.start_frame, video.end_frame, self.cfg.decode)
        except Exception as e:
            if is_resource_error(e):  # the machine, not the video
                raise fault(STAGE, "cannot read", video.path, e) from None
            raise Rejected(decode_failure(e)) from None

    def _store(self, video: VideoInput, sampled: SampledClip) -> np.ndarray:
        try:
            return stored_frames(sampled.frames, sampled.info.fps, self.cfg.decode)
        except VideoError as e:
            raise Rejected(str(e)) from None
        except OSError as e:  # the temporary folder, not the video
            raise fault(STAGE, "cannot store a temporary clip of", video.path, e) from None
        except Exception as e:
            raise Rejected(encode_failure(e)) from None

    def _poses(self, video: VideoInput, sampled: SampledClip, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # the clip id is the file's stem, a Diving48-layout clip's id: the ground-truth backend seeds its noise by it
        context = FrameContext(clip_id=video.path.stem, source=self._source(video.path),
                               dataset_root=self.dataset_root, frame_indices=tuple(sampled.indices),
                               source_size=(sampled.info.width, sampled.info.height))
        try:
            keypoints, bboxes = estimate_poses(self.estimator, frames, context)
        except Exception as e:
            if is_resource_error(e):
                raise fault(STAGE, "cannot estimate the poses of", video.path, e) from None
            raise Rejected(pose_failure(e)) from None
        if not (keypoints[..., 2] > 0).any():
            raise Rejected(f"no person found: the pose estimator found no one in any of the {len(frames)} frames")
        return keypoints, bboxes

    def _source(self, path: Path) -> str:
        """The video relative to the dataset root when inside it (as the clip index names it), else absolute."""
        absolute = Path(path).resolve()
        if absolute.is_relative_to(self.dataset_root):
            return absolute.relative_to(self.dataset_root).as_posix()
        return str(absolute)
