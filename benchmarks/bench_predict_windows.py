"""Windows of a long video: sampling every window's frames in one pass over the file vs one pass per window.

`pevl predict` samples the `decode.frames` frames of up to 32 windows in one pass (`sample_windows`,
pevl/predict/windows.py); the baseline is `sample_source` called once per window, which is what
predicting each window's frame range alone does. Both give the same frames (checked here). Then the
whole windowed prediction, split as its rows report it: sampling + codec, poses, model.

    python -m benchmarks.bench_predict_windows --model CHECKPOINT --video LONG.mp4 [--repeats 3]

LONG.mp4: e.g. the one scripts/predict_timeline.py writes (work/predict-timeline/long.mp4).
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np

from pevl.console import say


def _best(fn, repeats: int) -> tuple[float, object]:
    """Best wall seconds of `repeats` calls and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


def main(argv: list[str] | None = None) -> int:
    """Time both ways of sampling, check they agree, time the windowed prediction; print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a checkpoint (its config gives decode and windows)")
    parser.add_argument("--video", type=Path, required=True, help="a video longer than 3 training clips")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    from pevl.predict.inputs import VideoInput
    from pevl.predict.predict import predict_videos
    from pevl.predict.windows import CHUNK, plan_windows, sample_windows, training_clip_s, window_settings
    from pevl.shards.preprocess import sample_source
    from pevl.train.checkpoint import config_of, load_checkpoint

    cfg = config_of(load_checkpoint(Path(args.model)))
    load = os.getloadavg()[0]
    settings = window_settings("always", None, None, training_clip_s(cfg))
    windows, info = plan_windows(VideoInput(args.video), settings, cfg.decode.min_frames)
    one_pass_s, shared = _best(lambda: [s for _, s, _ in sample_windows(windows, info, cfg.decode)], args.repeats)
    alone_s, alone = _best(lambda: [sample_source(w.path, w.start_frame, w.end_frame, cfg.decode) for w in windows],
                           args.repeats)
    assert all(np.array_equal(a.frames, b.frames) and a.indices == b.indices for a, b in zip(shared, alone))
    started = time.perf_counter()
    rows = predict_videos([args.video], args.model, show_progress=False, windows="always")
    total_s = time.perf_counter() - started
    say(f"machine: {os.cpu_count()} CPUs, load average {load:.2f}-{os.getloadavg()[0]:.2f}; {args.video.name}: "
        f"{info.frame_count} frames at {info.fps:g} fps, {len(windows)} windows of {settings.window_s:.2f} s "
        f"every {settings.stride_s:.2f} s, {cfg.decode.frames} frames each")
    say("| step | seconds | per window (ms) |")
    say("|---|---|---|")
    say(f"| sampling, one pass per {min(len(windows), CHUNK)} windows | {one_pass_s:.3f} | "
        f"{1000 * one_pass_s / len(windows):.1f} |")
    say(f"| sampling, one pass per window (baseline) | {alone_s:.3f} | {1000 * alone_s / len(windows):.1f} |")
    say(f"| ratio baseline / one pass | {alone_s / one_pass_s:.2f}x | |")
    for name, field in (("predict: sampling + codec", "decode_s"), ("predict: poses", "poses_s"),
                        ("predict: model", "model_s")):
        seconds = sum(getattr(r, field) for r in rows)
        say(f"| {name} | {seconds:.3f} | {1000 * seconds / len(rows):.1f} |")
    say(f"| predict_videos in all (model loading included) | {total_s:.3f} | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
