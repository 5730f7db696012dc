"""One Prefect task per pipeline stage: a call into the plain stage function plus caching.

Cache key of a stage = its own config hash from `pevl.paths` (which chains the hashes of its
inputs) + the version of its code + the token of its upstream output (a recomputed upstream
gets a new token, so everything downstream reruns) + the work dir. Results are persisted as
JSON under `<work_dir>/.prefect-results`, so a hit needs nothing but the work dir; the flow
checks the outputs a hit points at before trusting it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import task

from flows.caching import stage_key
from pevl import paths
from schemas import PipelineConfig, StageResult

STAGES = ("ingest", "decode", "poses", "shard", "train", "evaluate", "grid")


@dataclass(frozen=True)
class StageSpec:
    """What a stage's cache key is made of."""

    modules: tuple[str, ...]  # code whose version is part of the key
    config: Callable[[PipelineConfig], Any]  # the stage's own config hash
    upstream: Callable[[PipelineConfig], Path] | None  # folder whose marker token is part of the key


def _eval_config(cfg: PipelineConfig) -> str:
    from pevl.stages.train import eval_dir

    return f"{paths.train_hash(cfg)}/{eval_dir(cfg).name}"


def _grid_config(cfg: PipelineConfig) -> str:
    from pevl.grid import load_grid

    return paths.grid_dir(cfg, load_grid(cfg.grid.file).model_dump(mode="json")).name


SPECS: dict[str, StageSpec] = {
    "ingest": StageSpec(("pevl.stages.ingest",),
                        lambda c: [paths.index_hash(c), c.dataset.model_dump(mode="json")], None),
    "decode": StageSpec(("pevl.stages.decode",), paths.decode_hash, paths.index_dir),
    "poses": StageSpec(("pevl.stages.poses", "flows.poses"), paths.poses_hash, paths.decode_dir),
    "shard": StageSpec(("pevl.stages.shard",), paths.shards_hash, paths.poses_dir),
    "train": StageSpec(("pevl.stages.train",), paths.train_hash, paths.shards_dir),
    "evaluate": StageSpec(("pevl.stages.train",), _eval_config, paths.train_dir),
    "grid": StageSpec(("pevl.stages.grid", "flows.grid"), _grid_config, paths.shards_dir),
}


def upstream_token(folder: Path | None) -> str:
    """The token in an upstream folder's `_COMPLETE` marker ('' when there is none)."""
    if folder is None:
        return ""
    from pevl.stages.outputs import read_marker

    return str((read_marker(folder) or {}).get("token", ""))


def stage_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    """Prefect cache_key_fn of every stage task (the task's name is the stage's name)."""
    stage, cfg = context.task.name, parameters["cfg"]
    spec = SPECS[stage]
    token = upstream_token(spec.upstream(cfg) if spec.upstream else None)
    return stage_key(stage, [spec.config(cfg), token], spec.modules, str(paths.work_dir(cfg)))


def is_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry condition of I/O stages: retry OS and network errors, never a bad input or config."""
    exc = state.result(raise_on_failure=False)
    permanent = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
    return isinstance(exc, (OSError, TimeoutError, ConnectionError)) and not isinstance(exc, permanent)


def _stage_task(name: str, io_bound: bool):
    retries = {"retries": 2, "retry_delay_seconds": [2, 10], "retry_condition_fn": is_transient} if io_bound else {}
    return task(name=name, cache_key_fn=stage_cache_key, persist_result=True, result_serializer="json",
                **retries)


@_stage_task("ingest", io_bound=True)
def ingest(cfg: PipelineConfig, force: bool = False, tags: dict[str, str] | None = None) -> StageResult:
    """Raw dataset -> clip index (pevl.stages.ingest.run_ingest)."""
    from pevl.stages.ingest import run_ingest

    return run_ingest(cfg, force)


@_stage_task("decode", io_bound=True)
def decode(cfg: PipelineConfig, force: bool = False, tags: dict[str, str] | None = None) -> StageResult:
    """Clip index -> decoded clips (pevl.stages.decode.run_decode)."""
    from pevl.stages.decode import run_decode

    return run_decode(cfg, force)


@_stage_task("poses", io_bound=True)
def poses(cfg: PipelineConfig, force: bool = False, tags: dict[str, str] | None = None) -> StageResult:
    """Decoded clips -> keypoints, fanned out over clip batches (flows.poses)."""
    from flows.poses import run_poses_fanned_out

    return run_poses_fanned_out(cfg, force)


@_stage_task("shard", io_bound=True)
def shard(cfg: PipelineConfig, force: bool = False, tags: dict[str, str] | None = None) -> StageResult:
    """Decoded clips + poses -> WebDataset shards (pevl.stages.shard.run_shard)."""
    from pevl.stages.shard import run_shard

    return run_shard(cfg, force)


@_stage_task("train", io_bound=False)
def train(cfg: PipelineConfig, force: bool = False, tags: dict[str, str] | None = None) -> StageResult:
    """Shards -> checkpoints + MLflow run; torchrun when train.processes > 1 (pevl.stages.train)."""
    from pevl.stages.train import run_train

    return run_train(cfg, force, tags=tags)


@_stage_task("evaluate", io_bound=False)
def evaluate(cfg: PipelineConfig, force: bool = False, tags: dict[str, str] | None = None) -> StageResult:
    """Checkpoint -> test metrics and reports in the training run (pevl.stages.train.run_evaluate)."""
    from pevl.stages.train import run_evaluate

    return run_evaluate(cfg, force, tags)


@_stage_task("grid", io_bound=False)
def grid(cfg: PipelineConfig, force: bool = False, tags: dict[str, str] | None = None,
         deferred: list[str] | None = None) -> StageResult:
    """Base config + grid file -> parent/child MLflow runs and a comparison table (run_grid), its
    rows and data steps tasks of the subflow `grid-rows` (flows.grid); `deferred`: train folders
    the flow is training beside the grid (flows.beside), whose rows start last."""
    from flows.grid import run_grid_dag
    from pevl.stages.grid import run_grid

    return run_grid(cfg, force, tags, execute=run_grid_dag, deferred=frozenset(deferred or ()))


TASKS = {"ingest": ingest, "decode": decode, "poses": poses, "shard": shard, "train": train,
         "evaluate": evaluate, "grid": grid}
