"""SynthDive generation speed, and the codec choice behind it.

1. End to end: `generate_synthdive` of clips_per_class x 48 clips at --size with --workers
   processes (default: 10 per class = 480 clips at 320x240 on every core; the target is < 120 s
   on a 2-core machine). Reports wall seconds, clips/s, frames/s, the dataset's size on disk, the
   CPU seconds all processes used, and the 1-minute load average before and after. On a machine
   shared with other work the wall time grows with the load; cpu_s / workers is the wall time the
   same work takes on idle cores.
2. Codecs, one process: the same rendered frames encoded by OpenCV `mp4v` and by the writer's
   PyAV `libx264` (ultrafast, crf 26): CPU ms per frame (best of --repeats interleaved rounds) and
   kB per clip, next to the CPU cost of rendering a frame.

    python -m benchmarks.bench_synth [--clips-per-class 10] [--size 320x240] [--workers 0] [--skip-full]
"""

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def _size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def bench_full(clips_per_class: int, size: tuple[int, int], workers: int) -> dict:
    """Generate a whole dataset in a temporary folder and time it."""
    from pevl.synth import generate_synthdive

    load_before = os.getloadavg()[0]
    cpu_before = _cpu_seconds()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = generate_synthdive(Path(tmp), clips_per_class, 0, size, workers)
        seconds = time.perf_counter() - start
        mb = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file()) / 1e6
    cpu = _cpu_seconds() - cpu_before
    return {**summary, "seconds": round(seconds, 1), "clips_per_s": round(summary["clips"] / seconds, 2),
            "frames_per_s": round(summary["frames"] / seconds), "dataset_mb": round(mb, 1),
            "cpu_s": round(cpu, 1), "idle_wall_s": round(cpu / summary["workers"], 1),
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (the pool workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _encode_cv2(frames: list[np.ndarray], path: Path, fps: int) -> None:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()


def bench_codecs(size: tuple[int, int], clips: int, repeats: int) -> dict:
    """ms/frame of rendering and of each encoder on the same frames, one process."""
    from pevl.synth.render import build_scene, iter_frames
    from pevl.synth.vocab import dive_classes
    from pevl.synth.writer import write_video

    cv2.setNumThreads(1)
    dives = dive_classes()
    videos, render_s = [], 0.0
    for k in range(clips):
        start = time.process_time()
        scene = build_scene(dives[(k * 11) % 48], (0, k), size, 30)
        videos.append(list(iter_frames(scene)))
        render_s += time.process_time() - start
    n = sum(len(v) for v in videos)
    best = {"mp4v": float("inf"), "libx264": float("inf")}
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            for name, fn in (("mp4v", _encode_cv2), ("libx264", lambda v, p, fps: write_video(p, v, fps, size))):
                start = time.process_time()
                for i, v in enumerate(videos):
                    fn(v, Path(tmp) / f"{name}{i}.mp4", 30)
                best[name] = min(best[name], time.process_time() - start)
                sizes[name] = sum((Path(tmp) / f"{name}{i}.mp4").stat().st_size for i in range(clips)) / clips
    return {"frames": n, "render_cpu_ms_per_frame": round(1000 * render_s / n, 3),
            **{f"{k}_cpu_ms_per_frame": round(1000 * v / n, 3) for k, v in best.items()},
            **{f"{k}_kb_per_clip": round(v / 1000, 1) for k, v in sizes.items()}}


def main(argv: list[str] | None = None) -> int:
    """Run both benchmarks and print one JSON object per line."""
    from pevl.console import say, setup_logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips-per-class", type=int, default=10)
    parser.add_argument("--size", type=_size, default=(320, 240))
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--codec-clips", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-full", action="store_true", help="only the codec comparison")
    args = parser.parse_args(argv)
    setup_logging()
    machine = {"cpus": os.cpu_count()}
    say(json.dumps({"bench": "synth_codecs", **machine, "size": "x".join(map(str, args.size)),
                    **bench_codecs(args.size, args.codec_clips, args.repeats)}))
    if not args.skip_full:
        say(json.dumps({"bench": "synth_full", **machine, "size": "x".join(map(str, args.size)),
                        **bench_full(args.clips_per_class, args.size, args.workers)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
