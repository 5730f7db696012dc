"""`pevl` command line: one subcommand per module in `pevl.commands`.

Each command module defines `add_parser(subparsers)` (argparse only, no heavy imports) and
`run(args) -> int`. Heavy imports (torch, Prefect, MLflow, the stages) happen inside `run`, so
`pevl --help` stays fast.
"""

import argparse
import logging
import sys

from pevl.commands import (
    demo, deploy, doctor, evaluate, grid, model_info, models, predict, pretrain, run, serve, shards, synth, train, up,
    watch,
)
from pevl.console import setup_logging

# Command modules by module name, in --help order; a new command adds its module here.
COMMANDS = {m.__name__.rpartition(".")[2]: m
            for m in (synth, up, serve, deploy, demo, watch, run, shards, train, evaluate, predict, grid, model_info,
                      pretrain, models, doctor)}

log = logging.getLogger("pevl")


def build_parser() -> argparse.ArgumentParser:
    """Build the argparse tree of every command."""
    parser = argparse.ArgumentParser(prog="pevl", description="PeVL data + training pipeline")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `pevl` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(args.verbose)
    from schemas import ConfigError

    try:
        return int(args.func(args) or 0)
    except ConfigError as e:
        log.error("%s", e)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
