"""`pevl run CONFIG --stages ingest,decode,poses,shard [--force poses] [--set k=v]`."""

import argparse
import logging

from pevl.commands.common import add_config_args, load_from_args

log = logging.getLogger("pevl.run")
DEFAULT_STAGES = "ingest,decode,poses,shard"


def _names(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `pevl run`."""
    p = subparsers.add_parser("run", help="run pipeline stages without Prefect, then print the summary")
    add_config_args(p)
    p.add_argument("--stages", default=DEFAULT_STAGES,
                   help=f"comma-separated stage names, run in pipeline order (default {DEFAULT_STAGES}; "
                        "an unknown name is refused with the list of stages)")
    p.add_argument("--force", default="", help="comma-separated stages to recompute even if complete")
    p.add_argument("--verify", action="store_true",
                   help="check the sha256 of every reused output against its marker (sizes are always checked)")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for another run using the same work dir (default 0: refuse, exit 2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the stages; print each stage's outcome and the clips/samples/rejects summary."""
    from pevl import paths
    from pevl.console import say
    from pevl.datasets import DatasetError
    from pevl.pipeline import run_stages
    from pevl.stages.summary import format_summary, summarize
    from pevl.storage.lock import work_dir_lock
    from pevl.storage.outputs import StageError

    cfg = load_from_args(args)
    try:  # the summary is read under the same lock: no other run can change the files it counts
        with work_dir_lock(paths.work_dir(cfg), args.wait):
            results = run_stages(cfg, _names(args.stages), _names(args.force), args.verify)
            summary = summarize(cfg)
    except (DatasetError, StageError, ValueError) as e:
        log.error("%s", e)
        return 2
    for r in results:
        state = "skipped (complete output reused)" if r.skipped else f"done in {r.seconds:.1f} s"
        counts = ", ".join(f"{k} {v}" for k, v in r.counts.items())
        say(f"{r.stage}: {state} -> {r.output} [{counts}]")
    if all(r.skipped for r in results):
        say("nothing recomputed: every stage reused its complete output")
    for line in format_summary(summary):
        say(line)
    if summary["pending"] == 0 and not summary["ok"]:
        log.error("records != samples + rejects, or the counts on disk disagree: clips were lost")
        return 1
    return 0
