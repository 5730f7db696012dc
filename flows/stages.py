"""One Prefect task per pipeline stage (`pevl.pipeline.PIPELINE`): a call into its function plus caching.

Cache key of a stage = its own config hash (`Stage.config`, which chains the hashes of its
inputs) + the version of its code + the token of its upstream output (`Stage.reads`: a recomputed
upstream gets a new token, so everything downstream reruns) + the work dir. Results are persisted
as JSON under `<work_dir>/.prefect-results`, so a hit needs nothing but the work dir; the flow
checks the outputs a hit points at before trusting it. Two stages run differently in the flow:
poses fans its clips out over the task runner (flows/poses.py), the grid runs its rows as a DAG
(flows/grid.py).
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import Task, task

from flows.caching import stage_key
from flows.grid import run_grid_dag
from flows.poses import run_poses_fanned_out
from pevl import paths
from pevl.grid.stage import run_grid
from pevl.pipeline import PIPELINE, stage_named
from pevl.stages.catalog import Stage
from pevl.storage.outputs import read_marker
from schemas import PipelineConfig, StageResult


def _grid_on_dag(cfg: PipelineConfig, force: bool = False, tags: dict[str, str] | None = None,
                 deferred: list[str] | None = None) -> StageResult:
    """The grid stage with its rows and data steps as tasks of the subflow `grid-rows` (flows.grid);
    `deferred`: train folders the flow is training beside the grid (pevl.grid.beside), whose rows start last."""
    return run_grid(cfg, force, tags, execute=run_grid_dag, deferred=frozenset(deferred or ()))


# stage -> (how the flow runs it instead of Stage.run, the flow module whose code is part of its cache key)
IN_FLOW: dict[str, tuple[Callable[..., StageResult], str]] = {
    "poses": (run_poses_fanned_out, "flows.poses"),
    "grid": (_grid_on_dag, "flows.grid"),
}


def code_modules(stage: Stage) -> tuple[str, ...]:
    """The modules whose code version is part of a stage's cache key."""
    flow_module = IN_FLOW[stage.name][1] if stage.name in IN_FLOW else None
    return (stage.run.__module__, *([flow_module] if flow_module else []))


def upstream_token(folder: Path | None) -> str:
    """The token in an upstream folder's `_COMPLETE` marker ('' when there is none)."""
    if folder is None:
        return ""
    return str((read_marker(folder) or {}).get("token", ""))


def stage_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    """Prefect cache_key_fn of every stage task (the task's name is the stage's name)."""
    stage, cfg = stage_named(context.task.name), parameters["cfg"]
    token = upstream_token(stage.reads(cfg) if stage.reads else None)
    return stage_key(stage.name, [stage.config(cfg), token], code_modules(stage), str(paths.work_dir(cfg)))


def is_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry condition of I/O stages: retry OS and network errors, never a bad input or config."""
    exc = state.result(raise_on_failure=False)
    permanent = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
    return isinstance(exc, (OSError, TimeoutError, ConnectionError)) and not isinstance(exc, permanent)


def stage_task(stage: Stage) -> Task:
    """The cached task of one stage, named for it; data stages (I/O bound) retry transient errors."""
    call = IN_FLOW[stage.name][0] if stage.name in IN_FLOW else stage.run

    def run(cfg: PipelineConfig, force: bool = False, tags: dict[str, str] | None = None,
            **extra: Any) -> StageResult:
        return call(cfg, force, **({} if stage.data else {"tags": tags}), **extra)

    run.__name__ = run.__qualname__ = stage.name  # Prefect keys a task by its function's name
    run.__doc__ = f"Stage {stage.name}: {call.__module__}.{call.__name__}."
    retries = {"retries": 2, "retry_delay_seconds": [2, 10], "retry_condition_fn": is_transient} if stage.data else {}
    return task(name=stage.name, cache_key_fn=stage_cache_key, persist_result=True, result_serializer="json",
                **retries)(run)


TASKS: dict[str, Task] = {stage.name: stage_task(stage) for stage in PIPELINE}
