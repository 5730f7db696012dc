"""Train-step throughput and peak memory, and whether the loader keeps up with the step.

    step    `train_step` (forward + PeVL loss + backward + AdamW) on batches already in memory:
            clips/s and peak memory (CPU: process peak RSS; CUDA: max allocated);
    loader  `make_train_loader` over real SynthDive shards (decode mp4 + segment sampling + random
            resized crop/flip + collate) with --workers processes: clips/s;
    ratio   loader clips/s / step clips/s: >= 1 means the loader never starves the step.
The shards come from the real data stages (SynthDive -> ingest -> decode -> poses -> shard),
made once under --cache and reused. Defaults: the tiny demo model on CPU.

    python -m benchmarks.bench_train [--device cpu] [--backbone pevl-tiny] [--image-size 64]
        [--frames 8] [--batch 8] [--steps 10] [--workers 1] [--threads 1] [--amp none]
        [--temporal aim|st_adapter|none]
"""

import argparse
import resource
import tempfile
import time
from pathlib import Path
from pevl.console import say


def make_shards(cache: Path, short_side: int, clips_per_class: int, size: str, overrides: tuple[str, ...] = ()):
    """A PipelineConfig whose SynthDive shards exist (built by the data stages once, then reused).

    `overrides`: more `--set` values on top of configs/demo.yaml (e.g. the stored codec).
    """
    from pevl.pipeline import DATA_STAGES, run_stages
    from schemas import load_config

    w, h = (int(v) for v in size.split("x"))
    root = Path(__file__).resolve().parents[1]
    cfg = load_config(root / "configs/demo.yaml", [
        f"work_dir={cache / 'work'}", f"dataset.root={cache / f'synthdive-{clips_per_class}-{w}x{h}'}",
        f"dataset.synth.clips_per_class={clips_per_class}", f"dataset.synth.width={w}",
        f"dataset.synth.height={h}", f"decode.short_side={short_side}", "tracking.enabled=false", *overrides,
    ])
    run_stages(cfg, DATA_STAGES)
    return cfg


def configure(cfg, args):
    """The benchmark's model/train settings on top of the shard config."""
    temporal = cfg.model.temporal.model_copy(update={"kind": args.temporal})
    return cfg.model_copy(update={
        "model": cfg.model.model_copy(update={"backbone": args.backbone, "pretrained": None, "temporal": temporal,
                                              "image_size": args.image_size, "num_frames": args.frames}),
        "train": cfg.train.model_copy(update={"batch_size": args.batch, "num_workers": args.workers,
                                              "device": args.device, "amp": args.amp, "threads": args.threads}),
    })


def peak_memory_mb(device) -> float:
    """Peak memory so far: CUDA max allocated, or this process's peak RSS."""
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_step(cfg, shards: Path, steps: int) -> dict[str, float]:
    """Clips/s of train_step on in-memory batches (after 2 warm-up steps), and peak memory."""
    import itertools

    import torch

    from pevl.data.loader import make_train_loader
    from pevl.losses import build_loss
    from pevl.stages.train import classes_path
    from pevl.train.distributed import pick_device, set_threads
    from pevl.train.loop import build_model_for, load_classes, train_step
    from pevl.train.optim import build_optimizer, build_scheduler, resolve_amp

    set_threads(cfg.train.threads)
    device = pick_device(cfg.train.device)
    classes = load_classes(classes_path(cfg))
    model = build_model_for(cfg, classes, device)
    loss_fn = build_loss(cfg.model)
    opt = build_optimizer(model, cfg.train)
    sched = build_scheduler(opt, cfg.train, 1000)
    dtype = resolve_amp(cfg.train.amp, device)
    loader, _ = make_train_loader(cfg, shards, 0)
    batches = list(itertools.islice(itertools.cycle(loader), 4))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    before = peak_memory_mb(device)
    for b in batches[:2]:
        train_step(model, loss_fn, [b], opt, sched, device, dtype, 1.0)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for i in range(steps):
        train_step(model, loss_fn, [batches[i % len(batches)]], opt, sched, device, dtype, 1.0)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    secs = time.perf_counter() - start
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"clips_per_s": steps * cfg.train.batch_size / secs, "peak_mb": peak_memory_mb(device),
            "peak_before_mb": before, "trainable_m": trainable / 1e6}


def bench_loader(cfg, shards: Path, batches: int) -> float:
    """Clips/s the training loader delivers (epochs of the resampled stream, workers started once per epoch)."""
    from pevl.data.loader import make_train_loader

    n, epoch = 0, 0
    start = time.perf_counter()
    while n < batches * cfg.train.batch_size:
        loader, _ = make_train_loader(cfg, shards, epoch)
        for b in loader:
            n += len(b["label"])
        epoch += 1
    return n / (time.perf_counter() - start)


def run(args) -> dict[str, float]:
    """Build or reuse shards, then measure the step and the loader; returns the figures."""
    from pevl import paths

    cfg = configure(make_shards(Path(args.cache), args.short_side, args.clips_per_class, args.size), args)
    shards = paths.shards_dir(cfg)
    step = bench_step(cfg, shards, args.steps)
    loader = bench_loader(cfg, shards, args.loader_batches)
    return {**step, "loader_clips_per_s": loader, "ratio": loader / step["clips_per_s"]}


def add_args(ap: argparse.ArgumentParser, **defaults) -> None:
    """The benchmark's options (defaults overridable by the GPU preset)."""
    d = {"device": "cpu", "backbone": "pevl-tiny", "image_size": 64, "frames": 8, "batch": 8, "amp": "none",
         "workers": 1, "threads": 1, "short_side": 96, "size": "160x120", **defaults}
    ap.add_argument("--device", default=d["device"], choices=("cpu", "cuda"))
    ap.add_argument("--backbone", default=d["backbone"])
    ap.add_argument("--image-size", type=int, default=d["image_size"])
    ap.add_argument("--frames", type=int, default=d["frames"])
    ap.add_argument("--batch", type=int, default=d["batch"])
    ap.add_argument("--amp", default=d["amp"], choices=("auto", "bf16", "fp16", "none"))
    ap.add_argument("--workers", type=int, default=d["workers"], help="loader processes")
    ap.add_argument("--threads", type=int, default=d["threads"], help="torch threads (0 = default)")
    ap.add_argument("--temporal", default="aim", choices=("aim", "st_adapter", "none"),
                    help="model.temporal.kind (temporal adaptation of the video and pose towers)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--loader-batches", type=int, default=40)
    ap.add_argument("--short-side", type=int, default=d["short_side"], help="stored frame short side")
    ap.add_argument("--size", default=d["size"], help="SynthDive render size WxH")
    ap.add_argument("--clips-per-class", type=int, default=2)
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "pevl-bench-train"))


def report(args, r: dict[str, float]) -> None:
    """Print the figures as a markdown table."""
    say(f"train: {args.backbone} {args.frames}x{args.image_size} px, temporal {args.temporal}, "
        f"batch {args.batch}, {args.device}, "
        f"amp {args.amp}, torch threads {args.threads or 'default'}, loader workers {args.workers}")
    say("| measure | value |")
    say("|---|---|")
    say(f"| train step, clips/s | {r['clips_per_s']:.1f} |")
    say(f"| peak memory, MB ({'CUDA max allocated' if args.device == 'cuda' else 'process peak RSS'}) | {r['peak_mb']:.0f} |")
    say(f"| trainable parameters, M | {r['trainable_m']:.2f} |")
    say(f"| loader, clips/s | {r['loader_clips_per_s']:.1f} |")
    say(f"| loader / step (>= 1: the loader keeps up) | {r['ratio']:.2f} |")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(ap)
    args = ap.parse_args(argv)
    report(args, run(args))


if __name__ == "__main__":
    main()
