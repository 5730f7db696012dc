"""`pevl train CONFIG [--set k=v]`: train on the config's shards (resumes; torchrun-aware)."""

import argparse
import contextlib
import logging

from pevl.commands.common import add_config_args, load_from_args
from pevl.console import say

log = logging.getLogger("pevl.train")


def add_parser(subparsers) -> None:
    """Register `train`."""
    p = subparsers.add_parser(
        "train", help="train PeVL on the shards; checkpoints + MLflow run (resumes an interrupted run)",
        description="Train on shards_dir(CONFIG). Under torchrun every process runs this; with "
                    "train.processes > 1 it launches torchrun itself.",
    )
    add_config_args(p)
    p.add_argument("--force", action="store_true", help="start from scratch even if a run exists")
    p.add_argument("--ablation", default="", help="ablation name tag of the MLflow run")
    p.add_argument("--parent-run-id", default=None, help="nest the MLflow run under this run")
    p.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="extra MLflow tag")
    p.add_argument("--register", default=None, metavar="NAME",
                   help="register the run's logged model as a new version of NAME in the MLflow Model Registry "
                        "(same as --set tracking.register=NAME)")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for another run using the same work dir (default 0: refuse, exit 2)")
    p.set_defaults(func=run)


def apply_register(cfg, name: str):
    """cfg with tracking.register=name, validated as a --set would be (ConfigError on a bad combination)."""
    from schemas import PipelineConfig
    from schemas.loading import apply_overrides, validate

    return validate(PipelineConfig, apply_overrides(cfg.model_dump(mode="json"), {"tracking.register": name}),
                    "--register")


def run(args: argparse.Namespace) -> int:
    """Run the train stage and print its checkpoint, run id and val metrics."""
    from pevl import paths
    from pevl.stages.rank import parse_tags
    from pevl.stages.train import run_train
    from pevl.storage.lock import work_dir_lock
    from pevl.storage.outputs import StageError
    from pevl.train.distributed import launched_by_torchrun

    cfg = load_from_args(args)
    if args.register:
        cfg = apply_register(cfg, args.register)
    # torchrun's ranks run under the lock their launcher (run_train in `pevl train`/`pevl run`) holds
    lock = contextlib.nullcontext() if launched_by_torchrun() else work_dir_lock(paths.work_dir(cfg), args.wait)
    try:
        with lock:
            result = run_train(cfg, args.force, args.parent_run_id, args.ablation, parse_tags(args.tag))
    except StageError as e:  # e.g. the tracking server is down, or another run holds the work dir: exit 2
        log.error("%s", e)
        return 2
    if launched_by_torchrun() and result.info.get("checkpoint") is None:
        return 0  # ranks > 0 report nothing
    state = "reused" if result.skipped else f"{result.seconds:.0f} s"
    say(f"train: {result.output} ({state})")
    say(f"  checkpoint   {result.info.get('checkpoint', '')}")
    say(f"  mlflow run   {result.info.get('mlflow_run_id', '') or '(tracking disabled)'}")
    for key, label in (("model_uri", "model"), ("registered", "registered")):
        if result.info.get(key):
            say(f"  {label:<12} {result.info[key]}")
    for key in ("val/top1", "val/top5", "val/mean_class_acc", "best_val/top1", "train_epoch/total"):
        if key in result.metrics:
            say(f"  {key:<18} {result.metrics[key]:.4f}")
    return 0
