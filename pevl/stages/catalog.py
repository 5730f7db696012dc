"""The pipeline's stages below the grid, in run order: name, function, what each reads and writes.

`pevl.pipeline.PIPELINE` adds the grid stage (`pevl.grid.stage.GRID`) after these. The runner,
the Prefect flow's tasks and cache keys, the CLI and the stage-name types all read that one list.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pevl import paths
from pevl.stages.decode import run_decode
from pevl.stages.ingest import run_ingest
from pevl.stages.poses import run_poses
from pevl.stages.shard import run_shard
from pevl.stages.train import eval_dir, run_evaluate, run_train
from schemas import PipelineConfig, StageResult


@dataclass(frozen=True)
class Stage:
    """One stage: `run(cfg, force=False, **options) -> StageResult` and the folders it reads and writes.

    Data stages take `verify` (check reused outputs' sha256) and are retried on I/O errors; the
    others take `tags` (MLflow tags naming the caller). `config` is the part of the config the
    output depends on (each stage's hash in `pevl.paths` already chains its inputs' hashes).
    """

    name: str
    run: Callable[..., StageResult]
    reads: Callable[[PipelineConfig], Path] | None  # the upstream output; None: the raw dataset
    writes: Callable[[PipelineConfig], Path]
    config: Callable[[PipelineConfig], Any]
    data: bool

    def options(self, verify: bool = False, tags: dict[str, str] | None = None) -> dict[str, Any]:
        """The keyword arguments this stage's function takes, of `verify` and `tags`."""
        return {"verify": verify} if self.data else {"tags": tags}


def _ingest_config(cfg: PipelineConfig) -> Any:
    return [paths.index_hash(cfg), cfg.dataset.model_dump(mode="json")]


def _evaluate_config(cfg: PipelineConfig) -> str:
    return f"{paths.train_hash(cfg)}/{eval_dir(cfg).name}"


BEFORE_GRID: tuple[Stage, ...] = (
    Stage("ingest", run_ingest, None, paths.index_dir, _ingest_config, data=True),
    Stage("decode", run_decode, paths.index_dir, paths.decode_dir, paths.decode_hash, data=True),
    Stage("poses", run_poses, paths.decode_dir, paths.poses_dir, paths.poses_hash, data=True),
    Stage("shard", run_shard, paths.poses_dir, paths.shards_dir, paths.shards_hash, data=True),
    Stage("train", run_train, paths.shards_dir, paths.train_dir, paths.train_hash, data=False),
    Stage("evaluate", run_evaluate, paths.train_dir, eval_dir, _evaluate_config, data=False),
)
