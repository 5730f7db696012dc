"""Training loader throughput at the GPU presets' size: 8 frames x 224 px out of short-side-256 stored clips.

The shards come from the real data stages, made once under --cache: SynthDive (--size) -> decode
(16 frames, short side 256, h264: the presets' `decode` section) -> ground-truth poses -> shard.
The loader is `make_train_loader` with the presets' view (8 frames by segments, a random resized
224 px crop, flip 0.5, batches of 16), run for --epochs epochs as training runs it: loader workers
start again every epoch. Each setting runs in a fresh process (no decoded clips kept from another
setting). For 0 (decoding in the training process), 1 and 2 workers, without and with the
decoded-clip cache (`train.decode_cache_mb`), it reports clips/s:

    first epoch      every clip of the first epoch over its wall time (worker start-up included;
                     with the cache on, the epoch that fills it)
    later epochs     the same for the other epochs (with workers, the cache starts empty again)
    steady           later epochs after their first batch from every worker (start-up and the
                     shuffle buffer's first fill left out)
    per process      steady / workers (0 workers: the training process)

Rounds run every setting in a rotated order; the table gives medians over --repeats rounds and the
load average. The loader workers a GPU needs: its train step's clips/s / per-process clips/s, on
cores like these (the step runs in the training process, which is not a loader worker).

    python -m benchmarks.bench_loader [--epochs 3] [--repeats 3] [--clips-per-class 8] [--size 320x240]
"""

import argparse
import concurrent.futures
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

from pevl.console import say

SETTINGS = [(workers, cache) for workers in (0, 1, 2) for cache in (False, True)]
PRESET = ("decode.frames=16", "decode.codec=h264", "poses.backend=ground_truth",
          "shards.max_samples=16")  # ~18 train shards: about as many draws per epoch as Diving48 in shards of 512


def loader_config(cfg, args, workers: int, cache_mb: int):
    """`cfg` with the presets' loader settings, `workers` processes and a cache of `cache_mb` MB."""
    model = cfg.model.model_copy(update={"num_frames": args.frames, "image_size": args.image_size,
                                         "pose_frame_ratio": 1})
    train = cfg.train.model_copy(update={"batch_size": args.batch, "num_workers": workers, "crop": "frame",
                                         "flip_prob": 0.5, "decode_cache_mb": cache_mb, "device": "cpu"})
    return cfg.model_copy(update={"model": model, "train": train})


def time_epochs(cfg, shards: Path, epochs: int) -> list[tuple[float, float]]:
    """Per epoch: (clips/s, steady clips/s after the first batch from every worker)."""
    from pevl.data.loader import make_train_loader

    first = max(1, cfg.train.num_workers)
    rates = []
    for epoch in range(epochs):
        loader, _ = make_train_loader(cfg, shards, epoch)
        clips = steady = 0
        start = mark = time.perf_counter()
        for i, batch in enumerate(loader):
            clips += len(batch["label"])
            if i >= first:
                steady += len(batch["label"])
            elif i == first - 1:
                mark = time.perf_counter()
        now = time.perf_counter()
        rates.append((clips / (now - start), steady / (now - mark)))
    return rates


def time_setting(cfg, shards: Path, epochs: int) -> list[tuple[float, float]]:
    """`time_epochs` in a process forked for it: no decoded clips kept from another setting.

    Forked, as the loader's own workers are: a spawned process would spawn its workers too.
    """
    ctx = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        return pool.submit(time_epochs, cfg, shards, epochs).result()


def measure(args) -> tuple[dict, list[float]]:
    """{(workers, cache): [per-epoch rates of each round]} and the 1-min load average at each round's start."""
    from benchmarks.bench_train import make_shards
    from pevl import paths

    base = make_shards(Path(args.cache), args.short_side, args.clips_per_class, args.size, PRESET)
    shards = paths.shards_dir(base)
    runs: dict[tuple[int, bool], list] = {s: [] for s in SETTINGS}
    loads = []
    for r in range(args.repeats):
        loads.append(os.getloadavg()[0])
        for workers, cache in SETTINGS[r % len(SETTINGS):] + SETTINGS[:r % len(SETTINGS)]:
            cfg = loader_config(base, args, workers, args.cache_mb if cache else 0)
            runs[(workers, cache)].append(time_setting(cfg, shards, args.epochs))
    return runs, loads


def stored_dims(args) -> str:
    """WxH of the stored clips."""
    from pose_extraction.video import stored_size

    w, h = stored_size(*(int(v) for v in args.size.split("x")), args.short_side)
    return f"{w}x{h}"


def report(args, runs: dict, loads: list[float]) -> None:
    """Print the table through the console."""
    say(f"loader: {args.frames} frames x {args.image_size} px out of 16 stored h264 frames of {stored_dims(args)} "
        f"(SynthDive {args.size}, {args.clips_per_class} clips per class), batch {args.batch}, {args.epochs} epochs "
        f"per setting, {os.cpu_count()} cores, median of {args.repeats} rounds; 1-min load average at the rounds' "
        f"starts {min(loads):.1f}-{max(loads):.1f} (median {statistics.median(loads):.1f})")
    say("| loader workers | decoded-clip cache | clips/s, first epoch | clips/s, later epochs "
        "| steady, later epochs | per process, steady |")
    say("|---|---|---|---|---|---|")
    for (workers, cache), rounds in runs.items():
        first = statistics.median(epochs[0][0] for epochs in rounds)
        later = statistics.median(rate for epochs in rounds for rate, _ in epochs[1:])
        steady = statistics.median(rate for epochs in rounds for _, rate in epochs[1:])
        who = "0 (training process)" if workers == 0 else str(workers)
        say(f"| {who} | {f'{args.cache_mb} MB' if cache else 'off'} | {first:.1f} | {later:.1f} | {steady:.1f} | "
            f"{steady / max(1, workers):.1f} |")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pevl.data.loader").setLevel(logging.ERROR)  # the cache-with-workers warning, once per setting
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=8, help="model.num_frames")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--short-side", type=int, default=256, help="stored frame short side")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=3, help="epochs per setting and round")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cache-mb", type=int, default=2048, help="decoded-clip cache budget when on")
    ap.add_argument("--size", default="320x240", help="SynthDive render size WxH")
    ap.add_argument("--clips-per-class", type=int, default=8)
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "pevl-bench-loader"))
    args = ap.parse_args(argv)
    report(args, *measure(args))


if __name__ == "__main__":
    main()
