"""`pevl grid CONFIG --grid FILE`: an ablation grid as one MLflow parent run with a child per row."""

import argparse
import logging

from pevl.commands.common import add_config_args, load_from_args
from pevl.console import say

log = logging.getLogger("pevl.grid")


def add_parser(subparsers) -> None:
    """Register `grid`."""
    p = subparsers.add_parser(
        "grid", help="train + evaluate every row of an ablation grid; print the comparison table",
    )
    add_config_args(p)
    p.add_argument("--grid", default=None, help="grid file (default: grid.file of the config)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="run every row once per seed")
    p.add_argument("--parallel", type=int, default=None, metavar="N",
                   help="rows running at once (default grid.parallel); threads or processes by orchestration.task_runner")
    p.add_argument("--force", action="store_true", help="retrain every row even if done")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for another run using the same work dir (default 0: refuse, exit 2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the grid stage (the table is printed by the stage)."""
    from pevl import paths
    from pevl.grid.stage import GridRowsFailed, run_grid
    from pevl.storage.lock import work_dir_lock
    from pevl.storage.outputs import StageError

    cfg = load_from_args(args)
    if args.grid:
        cfg.grid.file = args.grid
    if args.seeds:
        cfg.grid.seeds = args.seeds
    if args.parallel:
        cfg.grid.parallel = max(1, args.parallel)
    try:
        with work_dir_lock(paths.work_dir(cfg), args.wait):
            result = run_grid(cfg, args.force)
    except GridRowsFailed as e:  # the table is printed; the other rows finished
        log.error("%s", e)
        return 1
    except StageError as e:  # the tracking server is down, or another run holds the work dir: exit 2
        log.error("%s", e)
        return 2
    say(f"grid: {result.output}  table {result.info.get('table', '')}  chart {result.info.get('chart', '')}")
    say(f"  parent mlflow run {result.info.get('mlflow_run_id', '') or '(tracking disabled)'}")
    return 0
