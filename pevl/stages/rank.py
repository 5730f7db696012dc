"""One torchrun process of the train stage: `torchrun ... -m pevl.stages.rank CONFIG [options]`.

`run_train` launches this module under torchrun when `train.processes > 1`; on several nodes each
node starts it itself (docs/training.md). Every rank runs the train stage; rank 0 logs and saves.
The ranks do not take the work dir's lock: their launcher holds it. Exit 2 names a config or
stage error in one line.
"""

import argparse
import logging
import sys

from pevl.console import setup_logging
from pevl.stages.train import run_train
from pevl.storage.outputs import StageError
from schemas import ConfigError, load_config

log = logging.getLogger("pevl.train")


def parse_tags(items: list[str]) -> dict[str, str]:
    """['k=v', ...] -> {k: v}."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--tag {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    """The options `run_train` passes to its ranks."""
    p = argparse.ArgumentParser(prog="python -m pevl.stages.rank", description=__doc__.splitlines()[0])
    p.add_argument("config", help="the resolved config (the launcher writes runs/<hash>/launch.yaml)")
    p.add_argument("--force", action="store_true", help="start from scratch even if a run exists")
    p.add_argument("--ablation", default="", help="ablation name tag of the MLflow run")
    p.add_argument("--parent-run-id", default=None, help="nest the MLflow run under this run")
    p.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="extra MLflow tag")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the train stage in this rank; 0 when done, 2 on a config or stage error."""
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        run_train(load_config(args.config), args.force, args.parent_run_id, args.ablation, parse_tags(args.tag))
    except (ConfigError, StageError) as e:
        log.error("%s", e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
