"""How a grid's rows run: a plan of data steps and row jobs, plain functions for each, a local pool.

`plan_grid` turns the expanded children into the data steps the rows that change data need
(decode, poses, shard under the row's own config, one step per output folder, so a folder several
rows share, such as the decoded clips of a row that changes only poses, is made or reused once)
and one job per row x seed. `run_data_step` and `run_row` are what a Prefect task or a pool
worker calls; both run under the lock the grid's process lent them (`pevl.storage.lock.inherited_lock`),
and each data step also holds its folder's lock. `run_local` is `pevl grid`'s scheduler: data
steps in series, then the rows on a pool of grid.parallel threads or processes, longest first
(`pevl.grid.cost`). The Prefect DAG of the same plan is flows/grid.py.
"""

import logging
import multiprocessing
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

from pevl import paths
from pevl.grid.changes import Changes, row_params, row_tags
from pevl.grid.rows import GridChild
from pevl.stages.catalog import BEFORE_GRID
from pevl.stages.train import run_evaluate, run_train
from pevl.storage.lock import folder_lock, inherited_lock
from schemas import PipelineConfig, StageResult

log = logging.getLogger("pevl.grid")
# The data stages a row with its own data runs, in order: all but ingest (a row may not change the dataset).
ROW_DATA_STAGES = tuple(s for s in BEFORE_GRID if s.data and s.name != "ingest")


@dataclass(frozen=True)
class DataStep:
    """One data stage under one row's config, writing `folder`; `after`: the step it reads (None: base data)."""

    stage: str
    cfg: PipelineConfig
    folder: str
    after: str | None


@dataclass(frozen=True)
class RowJob:
    """One row x seed: its config, its own data stages and the folders of the data steps it reads."""

    name: str
    seed: int
    cfg: PipelineConfig
    data: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    changes: Changes = ()  # the fields its row changes from the base config and from the row above
    previous: Changes | None = None


@dataclass(frozen=True)
class GridPlan:
    """Data steps in dependency order, the row jobs in grid order, and the order to start the jobs in."""

    steps: tuple[DataStep, ...]
    jobs: tuple[RowJob, ...]
    order: tuple[int, ...] = ()  # job indices, longest first (pevl.grid.cost); empty: grid order

    def dispatch(self) -> list[int]:
        """Job indices in the order to start them."""
        return list(self.order or range(len(self.jobs)))


@dataclass(frozen=True)
class GridContext:
    """What every row needs besides its config: the parent run, the lent lock, force and tags."""

    spec_name: str
    parent_run_id: str | None
    work_dir: str
    lease: str
    force: bool = False
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class RowResult:
    """What one row x seed did: ran, reused (train and evaluate found complete) or failed."""

    name: str
    seed: int
    status: str
    metrics: dict[str, float]
    run_id: str
    seconds: float
    error: str = ""
    where: str = ""  # host:pid that ran it
    span: tuple[float, float] = (0.0, 0.0)  # wall-clock start and end (time.time())


# (step outcomes by folder: ran / reused / failed: ..., row results in plan order)
GridOutcome = tuple[dict[str, str], list[RowResult]]
GridExecutor = Callable[[GridPlan, GridContext, PipelineConfig], GridOutcome]


def plan_grid(children: list[GridChild], costs: list[float] | None = None,
              deferred: frozenset[str] = frozenset()) -> GridPlan:
    """The data steps of the rows that change data (deduplicated by folder), one job per child and
    the order to start them (`pevl.grid.cost.dispatch_order` of `costs`; grid order without)."""
    from pevl.grid.cost import dispatch_order

    steps: dict[str, DataStep] = {}
    jobs = []
    for child in children:
        needs, after = [], None
        for stage in ROW_DATA_STAGES if child.data else ():
            folder = str(stage.writes(child.cfg))
            steps.setdefault(folder, DataStep(stage.name, child.cfg, folder, after))
            needs.append(folder)
            after = folder
        jobs.append(RowJob(child.name, child.seed, child.cfg, child.data, tuple(needs), child.changes, child.previous))
    order = dispatch_order(children, costs if costs is not None else [0.0] * len(children), deferred)
    return GridPlan(tuple(steps.values()), tuple(jobs), order)


def run_data_step(step: DataStep, work_dir: str, lease: str) -> StageResult:
    """Run (or reuse) one data stage under the lent work dir lock and its folder's lock."""
    run = next(s.run for s in ROW_DATA_STAGES if s.name == step.stage)
    with inherited_lock(Path(work_dir), lease), folder_lock(Path(step.folder)):
        return run(step.cfg)


def _train_and_test(job: RowJob, ctx: GridContext) -> tuple[dict[str, float], str, bool]:
    """Train + evaluate one row under the parent run: (metrics, child run id, both reused).

    The child run carries what its row changes (`pevl.grid.changes`): tags from its start, the
    `row.*` params once trained (tags again: a resumed run started under another grid)."""
    from pevl.tracking.inputs import log_shard_inputs
    from pevl.tracking.runs import annotate_run, start_run

    ablation = f"{ctx.spec_name}/{job.name}"
    tags = row_tags(job.name, job.changes, job.previous)
    with folder_lock(paths.train_dir(job.cfg)):  # one writer of a run folder (the flow's train stage may hold it)
        trained = run_train(job.cfg, ctx.force, parent_run_id=ctx.parent_run_id, ablation=ablation,
                            tags={**ctx.tags, **tags})
        tested = run_evaluate(job.cfg, ctx.force, ctx.tags)
    metrics = {**trained.metrics, **tested.metrics}
    run_id = trained.info.get("mlflow_run_id", "")
    if trained.skipped and ctx.parent_run_id:
        # reused training: record a child run under this parent that points at the original
        child = start_run(job.cfg, ablation, ablation, ctx.parent_run_id, {**ctx.tags, **tags, "reused_run_id": run_id})
        log_shard_inputs(child, job.cfg)
        child.log_metrics(metrics)
        child.end()
        run_id = child.run_id or run_id
    if ctx.parent_run_id:
        annotate_run(job.cfg, run_id, row_params(job.changes), tags)
    return metrics, run_id, trained.skipped and tested.skipped


def run_row(job: RowJob, ctx: GridContext) -> RowResult:
    """Train and test one row x seed; an error becomes a failed RowResult, so the other rows go on."""
    started, where = time.time(), f"{socket.gethostname()}:{os.getpid()}"
    try:
        with inherited_lock(Path(ctx.work_dir), ctx.lease):
            metrics, run_id, reused = _train_and_test(job, ctx)
    except Exception as e:  # noqa: BLE001 - one failed row is reported in the table, the grid goes on
        log.error("grid %s: row %s (seed %d) failed: %s: %s", ctx.spec_name, job.name, job.seed, type(e).__name__, e)
        return RowResult(job.name, job.seed, "failed", {}, "", time.time() - started, f"{type(e).__name__}: {e}",
                         where, (started, time.time()))
    log.info("grid %s: %s (seed %d) %s, test top-1 %.4f", ctx.spec_name, job.name, job.seed,
             "reused" if reused else "ran", metrics.get("test/top1", float("nan")))
    return RowResult(job.name, job.seed, "reused" if reused else "ran", metrics, run_id, time.time() - started, "",
                     where, (started, time.time()))


def step_outcome(result: StageResult | None, error: BaseException | None = None) -> str:
    """A data step's outcome as a word: ran, reused, or failed: <error>."""
    if error is not None:
        return f"failed: {type(error).__name__}: {error}"
    return "reused" if result is not None and result.skipped else "ran"


def blocked(job: RowJob, steps: dict[str, str]) -> RowResult | None:
    """A failed RowResult when a data step the job reads failed (None when its data is there)."""
    bad = next((f for f in job.needs if steps.get(f, "").startswith("failed")), None)
    if bad is None:
        return None
    return RowResult(job.name, job.seed, "failed", {}, "", 0.0, f"its data step {Path(bad).parent.name}: {steps[bad]}")


def _pool(kind: str, workers: int) -> Executor:
    """Threads for the thread task runner; spawned processes (logging set up) otherwise."""
    if kind == "thread":
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grid-row")
    from pevl.console import setup_logging

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=setup_logging)


def run_local(plan: GridPlan, ctx: GridContext, cfg: PipelineConfig) -> GridOutcome:
    """`pevl grid` without Prefect: data steps in series here, then rows grid.parallel at a time."""
    steps: dict[str, str] = {}
    for step in plan.steps:
        if step.after and steps[step.after].startswith("failed"):
            steps[step.folder] = steps[step.after]
            continue
        try:
            steps[step.folder] = step_outcome(run_data_step(step, ctx.work_dir, ctx.lease))
        except Exception as e:  # noqa: BLE001 - the rows that read it fail, the others go on
            log.error("grid %s: data stage %s in %s failed: %s", ctx.spec_name, step.stage, step.folder, e)
            steps[step.folder] = step_outcome(None, e)
    results: dict[int, RowResult] = {i: r for i, j in enumerate(plan.jobs) if (r := blocked(j, steps))}
    todo = [i for i in plan.dispatch() if i not in results]
    workers = min(cfg.grid.parallel, len(todo))
    if workers <= 1:
        results.update({i: run_row(plan.jobs[i], ctx) for i in todo})
    else:
        log.info("grid %s: %d rows, %d at a time on %s", ctx.spec_name, len(todo), workers,
                 "threads" if cfg.orchestration.task_runner == "thread" else "processes")
        with _pool(cfg.orchestration.task_runner, workers) as pool:
            done = pool.map(run_row, [plan.jobs[i] for i in todo], repeat(ctx))
            results.update(zip(todo, done))
    return steps, [results[i] for i in range(len(plan.jobs))]
