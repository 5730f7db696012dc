"""Render planned clips to Diving48's layout (rgb/<id>.mp4) plus keypoints/<id>.npy, in parallel.

Videos are H.264 in mp4, as Diving48's are, encoded by PyAV's libx264 (OpenCV cannot write H.264
on these machines): preset ultrafast, crf 26, one thread, frames converted to I420 by OpenCV.
Measured against OpenCV's `mp4v` on the same frames (benchmarks/bench_synth.py) it costs about
0.25 ms more CPU per 320x240 frame (some 10 % of a clip's total) and makes files half the size.
Each clip depends only on its own seed and libx264 runs single-threaded, so the bytes do not
depend on the number of processes.
"""

import logging
import multiprocessing
import os
from collections.abc import Iterable
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from pevl.progress import progress
from pevl.synth.plan import ClipPlan
from pevl.synth.render import build_scene, iter_frames, keypoints
from pevl.synth.vocab import dive_classes

log = logging.getLogger(__name__)


H264_OPTIONS = {"preset": "ultrafast", "crf": "26"}


def write_video(path: Path, frames: Iterable[np.ndarray], fps: int, size: tuple[int, int]) -> int:
    """Encode (H, W, 3) uint8 BGR frames to an H.264 mp4, atomically; returns the frame count."""
    import av

    tmp = path.with_name(f".{path.stem}.tmp.mp4")
    count = 0
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = dict(H264_OPTIONS)
        stream.codec_context.thread_count = 1  # one process per core; also keeps the bytes reproducible
        for frame in frames:
            yuv = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)  # faster than PyAV's own conversion
            container.mux(stream.encode(av.VideoFrame.from_ndarray(yuv, format="yuv420p")))
            count += 1
        container.mux(stream.encode())
    os.replace(tmp, path)
    return count


def annotation_range(plan: ClipPlan, num_frames: int, takeoff: int, entry: int) -> tuple[int, int]:
    """[start, end) frames the annotation covers: the whole video, or for some clips a sub-range
    that still holds the whole dive from before takeoff to after the entry, as in Diving48."""
    rng = np.random.default_rng([*plan.seed, 3])
    if rng.random() >= 0.3:
        return 0, num_frames
    lead = max(1, takeoff - int(0.3 * plan.fps))
    start = int(rng.integers(0, lead))
    tail = min(entry + int(0.3 * plan.fps), num_frames)
    return start, int(rng.integers(tail, num_frames + 1))


def render_clip(plan: ClipPlan, out: Path, size: tuple[int, int]) -> dict:
    """Render one clip into out/rgb and out/keypoints; returns its annotation and counts."""
    dive = dive_classes()[plan.label]
    scene = build_scene(dive, plan.seed, size, plan.fps, plan.venue_seed)
    kp = keypoints(scene)
    np.save(out / "keypoints" / f"{plan.vid_name}.npy", kp, allow_pickle=False)
    n = write_video(out / "rgb" / f"{plan.vid_name}.mp4", iter_frames(scene), plan.fps, size)
    start, end = annotation_range(plan, n, scene.motion.takeoff_frame, scene.motion.entry_frame)
    return {"index": plan.index, "vid_name": plan.vid_name, "label": plan.label, "start_frame": start,
            "end_frame": end, "split": plan.split, "num_frames": n}


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would oversubscribe


def render_all(plans: list[ClipPlan], out: Path, size: tuple[int, int], workers: int) -> list[dict]:
    """Render every plan with `workers` processes (1 = in this process); results in plan order."""
    job = partial(render_clip, out=out, size=size)
    bar = dict(total=len(plans), desc="synthdive", unit="clip", leave=False)
    if workers <= 1:
        results = [job(p) for p in progress(plans, **bar)]
    else:
        ctx = multiprocessing.get_context("spawn")  # safe under threads (Prefect) and torch
        with ctx.Pool(workers, initializer=_init_worker) as pool:
            results = list(progress(pool.imap_unordered(job, plans, chunksize=2), **bar))
    return sorted(results, key=lambda r: r["index"])


def default_workers() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
