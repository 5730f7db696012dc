"""Run stages in order without Prefect: `run_stages(cfg, ["ingest", "decode", "poses", "shard"])`."""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `pevl run --help` reads STAGES: keep pydantic out of it
    from schemas import PipelineConfig, StageResult

log = logging.getLogger("pevl.stages")

# stage name -> "module:function" with the signature (cfg, force=False) -> StageResult, in run order.
# Adding a stage is one line here.
STAGES: dict[str, str] = {
    "ingest": "pevl.stages.ingest:run_ingest",
    "decode": "pevl.stages.decode:run_decode",
    "poses": "pevl.stages.poses:run_poses",
    "shard": "pevl.stages.shard:run_shard",
    "train": "pevl.stages.train:run_train",
    "evaluate": "pevl.stages.train:run_evaluate",
    "grid": "pevl.stages.grid:run_grid",
}
DATA_STAGES = ["ingest", "decode", "poses", "shard"]


def stage_function(name: str):
    """The function of a stage name; ValueError listing the known names otherwise."""
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; known: {', '.join(STAGES)}")
    module, func = STAGES[name].split(":")
    return getattr(importlib.import_module(module), func)


def run_stages(cfg: PipelineConfig, stages: list[str], force: list[str] | None = None,
               verify: bool = False, wait_s: float = 0.0) -> list[StageResult]:
    """Run the named stages in pipeline order, holding the work dir's lock; those in `force`
    recompute even if complete.

    A stage whose input was recomputed recomputes too (its marker no longer matches its input).
    A reused data stage's files are checked against its marker: sizes always, sha256 with `verify`.
    wait_s: how long to wait for another run holding the work dir (0: refuse at once, WorkDirBusy).
    """
    from pevl import paths
    from pevl.lock import work_dir_lock

    force = list(force or [])
    unknown = [s for s in [*stages, *force] if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(STAGES)}")
    results = []
    with work_dir_lock(paths.work_dir(cfg), wait_s):
        for name in (s for s in STAGES if s in stages):
            log.info("stage %s: starting", name)
            extra = {"verify": verify} if name in DATA_STAGES else {}
            results.append(stage_function(name)(cfg, force=name in force, **extra))
    return results
