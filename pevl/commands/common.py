"""Argument helpers shared by commands that take a config."""

import argparse


def add_config_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """Add the CONFIG positional and repeated --set key=value overrides."""
    parser.add_argument("config", nargs=None if required else "?", help="pipeline YAML, e.g. configs/demo.yaml")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config field, e.g. --set train.epochs=3 (repeatable)",
    )


def load_from_args(args: argparse.Namespace):
    """Load the PipelineConfig named by args.config with args.overrides."""
    from schemas import load_config

    return load_config(args.config, args.overrides)
