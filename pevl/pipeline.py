"""The one list of the pipeline's stages, and running them in order without Prefect.

`PIPELINE`: ingest, decode, poses, shard, train, evaluate (`pevl.stages.catalog`), then the grid
(`pevl.grid.stage`). `run_stages(cfg, ["ingest", "decode", "poses", "shard"])` runs stages the way
`pevl run` does; the Prefect flow (flows/stages.py) makes one cached task of each.
"""

import logging
from typing import Literal

from pevl import paths
from pevl.grid.stage import GRID
from pevl.stages.catalog import BEFORE_GRID, Stage
from pevl.storage.lock import work_dir_lock
from schemas import PipelineConfig, StageResult

log = logging.getLogger("pevl.stages")

PIPELINE: tuple[Stage, ...] = (*BEFORE_GRID, GRID)
STAGES: tuple[str, ...] = tuple(s.name for s in PIPELINE)  # their names, in run order
DATA_STAGES: tuple[str, ...] = tuple(s.name for s in PIPELINE if s.data)
StageName = Literal[STAGES]  # type: ignore[valid-type]  # the names above, for pydantic and Prefect


def stage_named(name: str) -> Stage:
    """The stage of a name; ValueError listing the known names otherwise."""
    for stage in PIPELINE:
        if stage.name == name:
            return stage
    raise ValueError(f"unknown stage {name!r}; known: {', '.join(STAGES)}")


def run_stages(cfg: PipelineConfig, stages: list[str], force: list[str] | None = None,
               verify: bool = False, wait_s: float = 0.0) -> list[StageResult]:
    """Run the named stages in pipeline order, holding the work dir's lock; those in `force`
    recompute even if complete.

    A stage whose input was recomputed recomputes too (its marker no longer matches its input).
    A reused data stage's files are checked against its marker: sizes always, sha256 with `verify`.
    wait_s: how long to wait for another run holding the work dir (0: refuse at once, WorkDirBusy).
    """
    force = list(force or [])
    unknown = [s for s in [*stages, *force] if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(STAGES)}")
    results = []
    with work_dir_lock(paths.work_dir(cfg), wait_s):
        for stage in (s for s in PIPELINE if s.name in stages):
            log.info("stage %s: starting", stage.name)
            results.append(stage.run(cfg, force=stage.name in force, **stage.options(verify=verify)))
    return results
