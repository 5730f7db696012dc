"""The pipeline's own lines in a flow run's logs: what runs, each stage's start and end, each grid row.

`pevl watch` (pevl/services/watch_view.py) reads these lines back, so their wording is fixed here
and nowhere else. The project's loggers (PREFECT_LOGGING_EXTRA_LOGGERS: pevl, flows, pose_extraction)
reach the flow run's logs only at Prefect's root level, WARNING: `forward_pipeline_logs` lets their
INFO lines (progress lines, epochs, stage counts) through in every process a run's tasks use.
"""

import logging
from pathlib import Path

from schemas import PipelineConfig, StageResult

SHOWN_METRICS = {"test/top1": "test top-1", "val/top1": "val top-1"}


def forward_pipeline_logs() -> None:
    """Let the project's loggers send INFO lines to the run's logs (a logger set lower keeps its level)."""
    from prefect.settings import PREFECT_LOGGING_EXTRA_LOGGERS

    for name in PREFECT_LOGGING_EXTRA_LOGGERS.value() or []:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)


def plan_line(cfg: PipelineConfig, stages: list[str], force: list[str]) -> str:
    """`plan: demo on synthdive, stages ingest, decode, ...; grid components; work dir /w` (no config dump)."""
    text = f"plan: {cfg.name} on {cfg.dataset.name}, stages {', '.join(stages) or 'none'}"
    if force:
        text += f"; recomputing {', '.join(force)}"
    if "grid" in stages:
        at_once = f"{cfg.grid.parallel} rows at a time" if cfg.grid.parallel > 1 else "one row at a time"
        text += f"; grid {Path(cfg.grid.file).stem}, {at_once}"
    return f"{text}; work dir {cfg.work_dir}"


def stage_started_line(stage: str) -> str:
    """`stage decode: starting`."""
    return f"stage {stage}: starting"


def result_facts(result: StageResult) -> str:
    """`clips 1440, rejects 0, test top-1 37.2%`: a stage's counts and headline metrics."""
    facts = [f"{k} {v}" for k, v in result.counts.items()]
    facts += [f"{name} {100 * result.metrics[key]:.1f}%" for key, name in SHOWN_METRICS.items()
              if key in result.metrics]
    return ", ".join(facts)


def stage_done_line(stage: str, status: str, result: StageResult) -> str:
    """`stage decode: ran (8.7 s) [clips 1440, decoded 1440, rejects 0] -> /work/decoded/ab12`."""
    facts = result_facts(result)
    return f"stage {stage}: {status} ({result.seconds:.1f} s){f' [{facts}]' if facts else ''} -> {result.output}"


def grid_row_line(done: int, total: int, name: str, seed: int, status: str, metrics: dict[str, float],
                  seconds: float, error: str = "") -> str:
    """`grid row 2/5: plus_pose (seed 0) ran in 100 s, test top-1 14.8%` (or `failed: <error>`)."""
    head = f"grid row {done}/{total}: {name} (seed {seed})"
    if status == "failed":
        return f"{head} failed: {error.splitlines()[0] if error else 'no reason given'}"
    top1 = metrics.get("test/top1")
    return f"{head} {status} in {seconds:.0f} s" + (f", test top-1 {100 * top1:.1f}%" if top1 is not None else "")
