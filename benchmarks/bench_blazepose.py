"""The blazepose backend on real footage: frames/s of our estimator against bare LiteRT `invoke` calls.

Two timings on the same frames (sports2d's demo video, fetched by `make test-assets`), models and
thread count:
  bare    the detector's `invoke` once per frame plus the landmark model's `invoke` once per person
          our estimator read in that frame, on ready-made input tensors (no letterbox, crop,
          decoding or tracking): the least any use of these two models costs;
  ours    `estimator.estimate(clip)`: letterbox, anchor decoding, NMS, each person's rotated crop,
          landmark mapping, carrying regions to the next frame, and main-person tracking.
Overhead = ours / bare - 1. With one LiteRT thread (the default, as in a pose worker process) both run
in the calling thread, so the clock is process CPU time: frames/s per core. Each clip counts its best
of several rounds.

    python -m benchmarks.bench_blazepose [--short-side 256 480] [--threads 1] [--repeats 2]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def bench(frames: np.ndarray, threads: int, repeats: int) -> dict[str, float]:
    """Best-of-rounds process CPU seconds of the bare invokes and of our estimator, and the people read."""
    from pose_extraction import FrameContext, build_estimator
    from pose_extraction.blazepose_backend import CROP_SIZE
    from pose_extraction.blazepose_detector import INPUT_SIZE
    from schemas import PoseConfig

    estimator = build_estimator(PoseConfig(backend="blazepose", blazepose={"threads": threads}), Path("/nonexistent"))
    context = FrameContext("bench", "bench.mp4", Path("/nonexistent"), tuple(range(len(frames))), frames.shape[2:0:-1])
    detector, landmarks = estimator.detect.detector, estimator.detect.landmarks
    carried, people = [], []
    for frame in frames:  # how many landmark passes each frame needs
        found = estimator.detect.people(frame, carried)
        people.append(len(carried) + len(estimator.detect.regions(frame)))
        carried = [p.region for p in found]
    det_in = np.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), np.float32)
    crop_in = np.zeros((1, CROP_SIZE, CROP_SIZE, 3), np.float32)

    def invoke(interpreter, tensor):
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], tensor)
        interpreter.invoke()

    def bare():
        for count in people:
            invoke(detector, det_in)
            for _ in range(count):
                invoke(landmarks, crop_in)

    def ours():
        estimator.estimate(frames, context)

    best = {"bare": float("inf"), "ours": float("inf")}
    for _ in range(repeats):
        for name, fn in (("bare", bare), ("ours", ours)):
            start = time.process_time()
            fn()
            best[name] = min(best[name], time.process_time() - start)
    return {**best, "passes": float(np.mean(people))}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short-side", type=int, nargs="+", default=[256, 480], help="stored frame short sides")
    parser.add_argument("--threads", type=int, default=1, help="LiteRT threads per model (1 as in a pose worker)")
    parser.add_argument("--repeats", type=int, default=2, help="rounds; the best counts")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the footage helper lives in tests/
    from pevl.console import say
    from tests.real_footage import demo_frames

    lines = ["| stored frames | landmark passes per frame | bare invoke fps | our estimator fps | overhead |",
             "|---|---|---|---|---|"]
    for short in args.short_side:
        frames = demo_frames(short)
        row = bench(frames, args.threads, args.repeats)
        n = len(frames)
        lines.append(f"| {n} x {frames.shape[2]}x{frames.shape[1]} | {row['passes']:.2f} | {n / row['bare']:.1f} | "
                     f"{n / row['ours']:.1f} | {row['ours'] / row['bare'] - 1:+.1%} |")
    clock = "process CPU time (frames/s per core)" if args.threads == 1 else "process CPU time"
    say(f"sports2d demo video, LiteRT threads: {args.threads or 'default'}, {clock}, best of {args.repeats} rounds")
    for line in lines:
        say(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
