"""Configs of training, tracking, ablation grids and orchestration."""

from typing import Any, Literal

from pydantic import Field

from schemas.base import Strict


class TrainConfig(Strict):
    """Optimisation and loader settings of `pevl train`."""

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(16, ge=1, description="per process")
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.05, ge=0.0)
    warmup_epochs: float = Field(1.0, ge=0.0)
    grad_clip: float = Field(1.0, ge=0.0, description="0 disables clipping")
    grad_accum: int = Field(1, ge=1)
    amp: Literal["auto", "bf16", "fp16", "none"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_workers: int = Field(2, ge=0)
    shuffle_buffer: int = Field(256, ge=0)
    eval_views: int = Field(1, ge=1, description="clips x crops at test time")
    processes: int = Field(1, ge=1, description="torchrun processes per node")
    nodes: int = Field(1, ge=1)


class TrackingConfig(Strict):
    """Where MLflow runs go. uri: a server URL or an absolute sqlite URI; null = env or work dir."""

    uri: str | None = None
    experiment: str | None = Field(None, description="default: pevl-<dataset name>")


class GridRun(Strict):
    """One named config of an ablation grid: dotted overrides on the base config."""

    name: str = Field(min_length=1)
    set: dict[str, Any] = {}


class GridSpec(Strict):
    """A grid file under configs/ablations/: a table name and its rows."""

    name: str = Field(min_length=1)
    description: str = ""
    runs: list[GridRun] = Field(min_length=1)


class GridConfig(Strict):
    """Which grid the `grid` stage runs."""

    file: str = "configs/ablations/components.yaml"


class OrchestrationConfig(Strict):
    """How Prefect fans work out."""

    task_runner: Literal["thread", "process", "dask"] = "thread"
    dask_address: str | None = None
    max_workers: int = Field(0, ge=0, description="0 = all cores")
