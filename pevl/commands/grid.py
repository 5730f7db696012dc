"""`pevl grid CONFIG --grid FILE`: an ablation grid as one MLflow parent run with a child per row."""

import argparse

from pevl.commands.common import add_config_args, load_from_args
from pevl.console import say


def add_parser(subparsers) -> None:
    """Register `grid`."""
    p = subparsers.add_parser(
        "grid", help="train + evaluate every row of an ablation grid; print the comparison table",
    )
    add_config_args(p)
    p.add_argument("--grid", default=None, help="grid file (default: grid.file of the config)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="run every row once per seed")
    p.add_argument("--force", action="store_true", help="retrain every row even if done")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the grid stage (the table is printed by the stage)."""
    from pevl.stages.grid import run_grid

    cfg = load_from_args(args)
    if args.grid:
        cfg.grid.file = args.grid
    if args.seeds:
        cfg.grid.seeds = args.seeds
    result = run_grid(cfg, args.force)
    say(f"grid: {result.output}  table {result.info.get('table', '')}  chart {result.info.get('chart', '')}")
    say(f"  parent mlflow run {result.info.get('mlflow_run_id', '') or '(tracking disabled)'}")
    return 0
