"""A grid's rows as a Prefect DAG: a task per data step and one per row x seed, on the configured runner.

`pevl.grid.stage.run_grid` takes `run_grid_dag` as its executor: the subflow `grid-rows` submits
every data step (each waiting for the step it reads), then the rows, at most grid.parallel at a
time, each waiting for its data steps. On Dask, a row carries grid.row_resources (e.g. GPU=1,
which each worker declares with `dask worker --resources GPU=1`), so each row gets a worker with a
free device. Rows and steps run under the lock the flow lent them (`pevl.storage.lock.inherited_lock`).
The subflow keeps a progress artifact of its finished rows (`pevl.progress.report_progress`).
"""

import contextlib
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, as_completed

from flows.logs import forward_pipeline_logs, grid_row_line
from flows.runners import build_task_runner
from pevl.grid.schedule import (DataStep, GridContext, GridOutcome, GridPlan, RowJob, RowResult, blocked,
                                run_data_step, run_row, step_outcome)
from pevl.progress import report_progress
from schemas import PipelineConfig, StageResult


@task(name="grid-data", cache_policy=NO_CACHE)
def data_task(step: DataStep, work_dir: str, lease: str) -> StageResult:
    """One data stage under a row's config (pevl.grid.schedule.run_data_step)."""
    forward_pipeline_logs()  # this task may run in a process of its own
    return run_data_step(step, work_dir, lease)


@task(name="grid-row", cache_policy=NO_CACHE)
def row_task(job: RowJob, ctx: GridContext) -> RowResult:
    """Train + evaluate one row x seed (pevl.grid.schedule.run_row; a failure comes back as a result)."""
    forward_pipeline_logs()  # its epoch lines, from a process of its own
    return run_row(job, ctx)


def _outcome(future: PrefectFuture) -> str:
    """ran / reused / failed: ... of a finished data step's future."""
    value = future.result(raise_on_failure=False)  # from the runner's own future, not the API's copy
    return step_outcome(None, value) if isinstance(value, BaseException) else step_outcome(value)


def _row_result(future: PrefectFuture, job: RowJob) -> RowResult:
    value = future.result(raise_on_failure=False)
    if isinstance(value, RowResult):
        return value
    return RowResult(job.name, job.seed, "failed", {}, "", 0.0, f"its task did not finish: {value!r}")


def _annotate(resources: dict[str, float]):
    """dask.annotate(resources=...) around a submit (a no-op without resources)."""
    if not resources:
        return contextlib.nullcontext()
    import dask

    return dask.annotate(resources=resources)


@flow(name="grid-rows")
def grid_rows(plan: GridPlan, ctx: GridContext, parallel: int, resources: dict[str, float]) -> GridOutcome:
    """Submit the data steps, then the rows (at most `parallel` at once); the outcomes in plan order."""
    steps = {}
    for step in plan.steps:
        name = f"{step.stage} {Path(step.folder).name}"
        steps[step.folder] = data_task.with_options(task_run_name=name).submit(
            step, ctx.work_dir, ctx.lease, wait_for=[steps[step.after]] if step.after else [])
    # plan.dispatch(): rows on the base data first (they train while the other rows' data steps
    # run), longest first, rows another worker is training last (pevl.grid.cost)
    queue = plan.dispatch()
    outcomes: dict[str, str] = {}
    results: dict[int, RowResult] = {}
    pending: dict[PrefectFuture, int] = {}
    done_rows = report_progress(f"grid {ctx.spec_name}", len(plan.jobs), "row")  # a progress artifact of the subflow

    def finished(i: int, result: RowResult) -> None:
        results[i] = result
        done_rows.update()
        get_run_logger().info("%s", grid_row_line(len(results), len(plan.jobs), result.name, result.seed, result.status,
                                                  result.metrics, result.seconds, result.error))

    while queue or pending:
        while queue and len(pending) < parallel:
            i = queue.pop(0)
            job = plan.jobs[i]
            outcomes.update({f: _outcome(steps[f]) for f in job.needs if f not in outcomes})
            if (failed := blocked(job, outcomes)) is not None:
                finished(i, failed)
                continue
            with _annotate(resources):
                future = row_task.with_options(task_run_name=f"{job.name} seed {job.seed}").submit(
                    job, ctx, wait_for=[steps[f] for f in job.needs])
            pending[future] = i
        if pending:
            done = next(as_completed(list(pending)))
            i = pending.pop(done)
            finished(i, _row_result(done, plan.jobs[i]))
    done_rows.close()
    outcomes.update({f: _outcome(fut) for f, fut in steps.items() if f not in outcomes})
    return outcomes, [results[i] for i in range(len(plan.jobs))]


def run_grid_dag(plan: GridPlan, ctx: GridContext, cfg: PipelineConfig) -> GridOutcome:
    """The grid's executor in the flow: `grid-rows` on the config's task runner, grid.parallel rows at once."""
    orch = cfg.orchestration.model_copy(update={"max_workers": cfg.grid.parallel})
    dask = cfg.orchestration.task_runner == "dask"
    resources = cfg.grid.row_resources if dask else {}
    runner = build_task_runner(orch if not (dask and cfg.orchestration.dask_address) else cfg.orchestration,
                               worker_resources=resources)
    return grid_rows.with_options(task_runner=runner)(plan, ctx, cfg.grid.parallel, resources)
