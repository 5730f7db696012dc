"""`pevl evaluate CHECKPOINT`: top-1/top-5/mean class/per-attribute accuracy, confusion PNG, per-class CSV."""

import argparse
from pathlib import Path

from pevl.console import say


def add_parser(subparsers) -> None:
    """Register `evaluate`."""
    p = subparsers.add_parser(
        "evaluate", help="evaluate a checkpoint on a split (the checkpoint holds its config)",
    )
    p.add_argument("checkpoint", help="a best.pt / last.pt written by `pevl train`")
    p.add_argument("--split", default="test", help="shard split to evaluate (default: test)")
    p.add_argument("--clips", type=int, default=None, help="temporal views per clip (default: config)")
    p.add_argument("--crops", type=int, choices=(1, 3), default=None, help="spatial views (default: config)")
    p.add_argument("--shards", default=None, help="shards folder (default: the one the config names)")
    p.add_argument("--out", default=None, help="report folder (default: next to the checkpoint)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None)
    p.add_argument("--no-track", action="store_true", help="do not log into the checkpoint's MLflow run")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the metrics; log them into the training run unless --no-track."""
    from pevl.eval.evaluate import evaluate_checkpoint
    from pevl.tracking.runs import Tracker, attach_run
    from pevl.train.checkpoint import config_of, load_checkpoint

    ckpt_path = Path(args.checkpoint)
    ckpt = load_checkpoint(ckpt_path)
    cfg = config_of(ckpt)
    clips, crops = args.clips or cfg.train.eval_clips, args.crops or cfg.train.eval_crops
    out = Path(args.out) if args.out else ckpt_path.parent / "eval" / f"{args.split}-{clips}x{crops}-{ckpt_path.stem}"
    tracker = Tracker() if args.no_track else attach_run(cfg, ckpt.get("mlflow_run_id"))
    try:
        metrics = evaluate_checkpoint(ckpt_path, out, tracker=tracker, shards=args.shards, split=args.split,
                                      clips=clips, crops=crops, device=args.device)
    finally:
        tracker.end()
    say(f"evaluate: {ckpt_path} on {args.split} ({clips} clips x {crops} crops) -> {out}")
    for key, value in metrics.items():
        say(f"  {key:<28} {value:.4f}" if not key.endswith("num_samples") else f"  {key:<28} {int(value)}")
    return 0
