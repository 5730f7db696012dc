"""The figures of the pose models' card: accuracy, identity and speed, all through the pose stage."""

import logging
import time
from pathlib import Path

import numpy as np

from pevl.pretrain.poses.data import STORED_SIZES, ClipSample, render_clips
from pevl.pretrain.poses.eval import context_for, evaluate_clips
from pevl.pretrain.poses.intruder import add_intruder, identity_kept

log = logging.getLogger(__name__)


def pose_config(det: Path | str, pose: Path | str, det_input_size, pose_input_size, threads: int = 1):
    """A `schemas.PoseConfig` running these two files through the rtmlib backend."""
    from schemas import PoseConfig

    return PoseConfig(backend="rtmlib", rtmlib=dict(
        det_model=str(det), pose_model=str(pose), det_input_size=tuple(det_input_size),
        pose_input_size=tuple(pose_input_size), download=False, threads=threads))


def _size_label(index: int) -> str:
    from pose_extraction.video import stored_size

    return "x".join(map(str, stored_size(*STORED_SIZES[index])))


def _identity(estimator, clips: list[ClipSample], sizes: list[int], seed: int) -> dict:
    kept = counted = 0
    for i, (clip, s) in enumerate(zip(clips, sizes)):
        mixed, intruder, first = add_intruder(clip, STORED_SIZES[s][:2], seed, i)
        k, n = identity_kept(estimator.estimate(mixed.frames, context_for(mixed)), mixed, intruder, first)
        kept, counted = kept + k, counted + n
    return {"frames": counted, "kept_rate": kept / max(counted, 1)}


def _speed(estimator, clips: list[ClipSample]) -> dict:
    """Frames per CPU second (one onnxruntime thread): our estimator vs bare session.run on the same models."""
    frames = sum(len(c.frames) for c in clips)
    start = time.process_time()
    for clip in clips:
        estimator.estimate(clip.frames, context_for(clip))
    ours = time.process_time() - start
    det, pose = estimator.detect.det.session, estimator.detect.pose.session
    feeds = [(s, {s.get_inputs()[0].name: np.random.rand(*[int(d) for d in s.get_inputs()[0].shape]).astype(np.float32)})
             for s in (det, pose)]
    start = time.process_time()
    for _ in range(frames):
        for session, feed in feeds:
            session.run(None, feed)
    bare = time.process_time() - start
    return {"frames": frames, "ours_fps_per_core": frames / ours, "bare_onnxruntime_fps_per_core": frames / bare,
            "overhead": ours / bare - 1}


def measure(det: Path, pose: Path, settings, identity_clips: int = 32) -> dict:
    """Every figure on `settings.eval_clips` fresh clips of `settings.eval_seed` (all four stored sizes)."""
    from pose_extraction import build_estimator

    cfg = pose_config(det, pose, settings.det_input_size, settings.pose_input_size, threads=1)
    estimator = build_estimator(cfg, Path("."))
    clips = render_clips(settings.eval_seed, settings.eval_clips, desc="render eval")
    sizes = [i % len(STORED_SIZES) for i in range(len(clips))]
    overall, per_size = evaluate_clips(estimator, clips, sizes)
    n = min(identity_clips, len(clips))
    result = {"eval_seed": settings.eval_seed, "clips": len(clips), "overall": overall,
              "per_stored_size": {_size_label(s): v for s, v in per_size.items()},
              "identity_with_larger_intruder": _identity(estimator, clips[:n], sizes[:n], settings.eval_seed),
              "speed": _speed(estimator, clips[:8])}
    log.info("pose models: detection %.3f, PCK@0.1 %.3f", overall["detection_rate"], overall["pck_0.1"])
    return result
