"""Shard loader throughput: samples/s through `iter_samples` (WebDataset + decode_sample).

    1 process     iter_samples over every tar of the train split;
    DataLoader    torch DataLoader, 2 workers, over an IterableDataset whose iterator is iter_samples
                  (WebDataset splits the tars between the workers), batches of 16 stacked into
                  tensors in the worker (shared memory to the main process), as training does.
The shards come from SynthDive through the real stages (decode -> ground-truth poses -> shard).

    python -m benchmarks.bench_shard_loader [--root DIR] [--clips-per-class 2] [--samples 2000]
"""

import argparse
import os
import time
from pathlib import Path

from benchmarks.bench_decode import dataset_section
from pevl.console import say


def prepared_run(dataset: dict, work: Path, frames: int = 16, short_side: int = 128, max_samples: int = 24):
    """Run ingest, decode, poses (ground truth) and shard on `dataset`; returns the config."""
    from pevl.pipeline import run_stages
    from schemas import PipelineConfig

    cfg = PipelineConfig.model_validate({
        "work_dir": str(work), "dataset": dataset,
        "decode": {"frames": frames, "short_side": short_side}, "poses": {"backend": "ground_truth"},
        "shards": {"max_samples": max_samples},
    })
    run_stages(cfg, ["ingest", "decode", "poses", "shard"])
    return cfg


def samples_dataset(urls: list[str], epochs: int):
    """A torch IterableDataset whose iterator is iter_samples over `urls`, `epochs` times."""
    import torch

    class Samples(torch.utils.data.IterableDataset):
        def __iter__(self):
            from pevl.shards import iter_samples

            for _ in range(epochs):
                yield from iter_samples(urls)

    return Samples()


def _collate(samples):
    """Stack a batch into tensors in the worker, as a training loader does (shared memory to the parent)."""
    import numpy as np
    import torch

    frames = torch.from_numpy(np.stack([s[0] for s in samples]))  # (B, T, H, W, 3)
    pose = torch.from_numpy(np.stack([s[1] for s in samples]))  # (B, T, K, 3)
    return frames, pose, [s[2] for s in samples]


def time_single(urls: list[str], epochs: int) -> tuple[int, float]:
    """(samples, seconds) for iter_samples in this process."""
    from pevl.shards import iter_samples

    start, n = time.perf_counter(), 0
    for _ in range(epochs):
        for _sample in iter_samples(urls):
            n += 1
    return n, time.perf_counter() - start


def time_loader(urls: list[str], epochs: int, workers: int, batch: int) -> tuple[int, float]:
    """(samples, seconds) through a DataLoader with `workers` processes and batches (start-up included)."""
    import torch

    loader = torch.utils.data.DataLoader(samples_dataset(urls, epochs), batch_size=batch, num_workers=workers,
                                         collate_fn=_collate)
    start, n = time.perf_counter(), 0
    for frames, _pose, _meta in loader:
        n += len(frames)
    return n, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    """Print samples/s of the shard reader in one process and in a 2-worker DataLoader."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", help="a Diving48-layout folder with keypoints/ (default: generate a SynthDive)")
    ap.add_argument("--clips-per-class", type=int, default=2)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--samples", type=int, default=2000, help="read about this many samples per timing")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--cache", default="work/bench")
    args = ap.parse_args(argv)
    from pevl import paths
    from pevl.shards import iter_samples, shard_urls
    from pevl.shards.manifest import read_sizes

    dataset = dataset_section(args.root, args.clips_per_class, args.size, Path(args.cache))
    cfg = prepared_run(dataset, Path(args.cache) / f"work-{Path(dataset['root']).name}")
    urls = shard_urls(paths.shards_dir(cfg), "train")
    per_epoch = read_sizes(paths.shards_dir(cfg))["train"]
    epochs = max(1, round(args.samples / per_epoch))
    # the DataLoader first: its workers fork from a parent that has not decoded video yet
    loader = time_loader(urls, epochs, args.workers, args.batch)
    single = time_single(urls, epochs)
    frames, pose, _meta = next(iter_samples(urls[:1]))
    say(f"shard loader: {len(urls)} train tars, {per_epoch} samples x {epochs} passes, sample = "
          f"{tuple(frames.shape)} uint8 + pose {tuple(pose.shape)}, {os.cpu_count()} cores")
    say("| reader | samples | seconds | samples/s |")
    say("|---|---|---|---|")
    say(f"| iter_samples, 1 process | {single[0]} | {single[1]:.1f} | {single[0] / single[1]:.0f} |")
    say(f"| DataLoader, {args.workers} workers, batches of {args.batch} | {loader[0]} | {loader[1]:.1f} | "
          f"{loader[0] / loader[1]:.0f} |")


if __name__ == "__main__":
    main()
