"""Configs of training, tracking, ablation grids and orchestration."""

import warnings
from typing import Any, Literal

from pydantic import Field, model_validator

from schemas.base import Strict


class TrainConfig(Strict):
    """Optimisation, loader and evaluation settings of `pevl train` / `pevl evaluate`."""

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(16, ge=1, description="clips per process per micro-batch")
    eval_batch_size: int | None = Field(None, ge=1, description="default: batch_size")
    lr: float = Field(1e-3, gt=0.0, description="peak learning rate of AdamW")
    min_lr_ratio: float = Field(0.0, ge=0.0, le=1.0, description="cosine floor, as a fraction of lr")
    weight_decay: float = Field(0.05, ge=0.0, description="AdamW decay; never on norms, biases, logit scale")
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_epochs: float = Field(1.0, ge=0.0, description="linear warm-up length, in epochs")
    grad_clip: float = Field(1.0, ge=0.0, description="max global grad norm; 0 disables clipping")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    amp: Literal["auto", "bf16", "fp16", "none"] = Field("auto", description="auto: bf16 on CUDA, none on CPU")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_workers: int = Field(2, ge=0, description="loader processes per training process")
    threads: int = Field(
        0, ge=0, description="torch intra-op threads per process; 0 = torch's default (all cores). "
        "1 is much faster for tiny models on a busy or small CPU"
    )
    decode_cache_mb: int = Field(
        0, ge=0, description="MB of decoded clips the decoding process keeps between epochs (pevl/data/clip_cache.py); "
        "kept only with num_workers 0, where decoding is the training process's (a small CPU, a small dataset)"
    )
    pin_memory: bool = True
    shuffle_buffer: int = Field(256, ge=0, description="samples held by the training shuffle buffer")
    crop_scale: tuple[float, float] = Field((0.4, 1.0), description="random resized crop: area fraction range")
    crop_ratio: tuple[float, float] = Field((0.75, 1.3333), description="random resized crop: aspect range")
    flip_prob: float = Field(0.5, ge=0.0, le=1.0, description="horizontal flip (joints' left/right swapped)")
    crop: Literal["frame", "person"] = Field(
        "frame",
        description="frame: a random resized crop of the frame for training, the centre square for evaluation; "
        "person: a square box following the tracked person in every frame (pevl/data/person_crop.py)",
    )
    person_margin: float = Field(1.6, gt=0.0, description="crop=person: box side / the clip's joint extent")
    person_jitter: float = Field(
        0.15, ge=0.0, lt=1.0, description="crop=person, training: random side scale and centre shift (fractions)"
    )
    eval_every: int = Field(1, ge=1, description="evaluate on the val split every N epochs (and the last)")
    val_split: Literal["val", "test"] = Field("val", description="falls back to test when shards have no val")
    test_checkpoint: Literal["best", "last"] = Field(
        "last", description="which checkpoint the evaluate stage tests; best is chosen on val_split"
    )
    eval_clips: int = Field(1, ge=1, description="temporal views per clip at test time")
    eval_crops: Literal[1, 3] = Field(1, description="spatial views: 1 centre crop, or 3 along the long side")
    log_every: int = Field(10, ge=1, description="optimizer steps between train/* metric logs")
    resume: bool = Field(True, description="continue from runs/<hash>/last.pt when it exists")
    processes: int = Field(1, ge=1, description="torchrun processes per node (pevl train launches them)")
    nodes: int = Field(1, ge=1, description="> 1: start torchrun on every node yourself")
    dist_timeout_s: float = Field(
        300.0, gt=0.0, description="seconds a rank waits in a collective for the others before it fails "
        "(a dead node): torch's default is 30 min"
    )

    @model_validator(mode="after")
    def _ranges_ordered(self) -> "TrainConfig":
        for name in ("crop_scale", "crop_ratio"):
            lo, hi = getattr(self, name)
            if not 0.0 < lo <= hi:
                raise ValueError(f"{name} must be 0 < low <= high, got {(lo, hi)}")
        if self.crop_scale[1] > 1.0:
            raise ValueError(f"crop_scale high must be <= 1, got {self.crop_scale[1]}")
        if self.crop == "person" and self.eval_crops != 1:
            raise ValueError("eval_crops must be 1 with crop=person (the view follows the person)")
        return self


# `register` is also ABCMeta's class method (pydantic warns that the field shadows it): instances,
# hence `cfg.tracking.register`, see the field; nothing calls TrackingConfig.register.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='Field name "register" ', category=UserWarning)

    class TrackingConfig(Strict):
        """Where MLflow runs go. uri: a server URL or an absolute sqlite URI; null = env or work dir."""

        enabled: bool = Field(True, description="false: no MLflow logging at all")
        uri: str | None = Field(None, description="server URL or sqlite URI; default $MLFLOW_TRACKING_URI, else <work_dir>/mlflow.db")
        artifact_location: str | None = Field(None, description="new experiments' artifact root; default <work_dir>/mlartifacts")
        experiment: str | None = Field(None, description="default: pevl-<dataset name>")
        log_checkpoint: bool = Field(True, description="upload the best checkpoint as a bare artifact (checkpoints/)")
        log_model: bool = Field(
            True, description="log the tested checkpoint as the run's MLflow model `model` (pyfunc: checkpoint + "
                              "pose model files), loadable as runs:/<run id> and servable by `mlflow models serve`")
        register: str | None = Field(
            None, min_length=1, description="register the logged model under this name (a new version per training "
                                            "run); grid rows do not register unless their row sets it")
        on_unreachable: Literal["fail", "untracked"] = Field(
            "fail", description="tracking server down before training: fail (exit 2), or train untracked and say so")

        @model_validator(mode="after")
        def _register_needs_model(self) -> "TrackingConfig":
            if self.register and not self.log_model:
                raise ValueError(f"register={self.register!r} needs log_model: true (it registers the logged model)")
            return self


class GridRun(Strict):
    """One named config of an ablation grid: dotted overrides on the base config."""

    name: str = Field(min_length=1)
    set: dict[str, Any] = {}


class StudyAxis(Strict):
    """One curve axis of a study: conditions (row-name prefixes) that vary one config field."""

    label: str = Field(min_length=1, description="x-axis label, e.g. 'jitter (px)'")
    field: str = Field(min_length=1, description="the dotted field whose value (from each row's `set`) is x")
    conditions: list[str] = Field(min_length=2, description="condition names, in x order")


class StudyGain(Strict):
    """A paired difference the study reports per condition: row <c>/plus minus row <c>/minus, by seed."""

    name: str = Field(min_length=1)
    plus: str = Field(min_length=1)
    minus: str = Field(min_length=1)


class StudySpec(Strict):
    """Curves over a grid whose rows are named <condition>/<variant> (pevl/grid/study.py).

    A variant missing at a condition (e.g. `no_pose`, which pose quality cannot affect) is read
    from the first condition that has it, and the table says so."""

    variants: list[str] = Field(min_length=1, description="variant names (row-name suffixes), one line each")
    axes: list[StudyAxis] = Field(min_length=1)
    references: list[str] = Field([], description="conditions drawn as points beside every axis (e.g. a detector)")
    gains: list[StudyGain] = []


class GridSpec(Strict):
    """A grid file under configs/ablations/ (or configs/studies/): a table name, its rows, optional curves."""

    name: str = Field(min_length=1)
    description: str = ""
    runs: list[GridRun] = Field(min_length=1)
    study: StudySpec | None = None


class GridConfig(Strict):
    """Which grid the `grid` stage runs."""

    file: str = "configs/ablations/components.yaml"
    seeds: list[int] = Field([], description="run every grid row once per seed; empty: the config's seed")
    parallel: int = Field(1, ge=1, description="grid rows (x seeds) running at once on the task runner; 1 = in series")
    row_resources: dict[str, float] = Field(
        {}, description="Dask worker resources one row takes (e.g. {GPU: 1}, as `dask worker --resources GPU=1` declares)")
    order: Literal["longest_first", "listed"] = Field(
        "longest_first", description="which rows a pool of grid.parallel starts first: the longest (estimated "
        "FLOPs x epochs x clips, pevl/grid/cost.py) or the grid file's order")
    beside_train: bool = Field(
        False, description="in the flow, start the grid's rows while the train stage trains (the row that is the "
        "base config waits for it and reuses it); for a machine with room for grid.parallel + 1 trainings")


class OrchestrationConfig(Strict):
    """How Prefect fans work out (pose extraction maps over clip batches on this task runner)."""

    task_runner: Literal["thread", "process", "dask"] = Field(
        "thread", description="thread/process: local pools; dask: prefect-dask DaskTaskRunner")
    dask_address: str | None = Field(
        None, description="scheduler address (tcp://host:8786); null = a LocalCluster on 127.0.0.1")
    max_workers: int = Field(0, ge=0, description="pool size / LocalCluster workers; 0 = all cores")
    pose_batch_clips: int = Field(64, ge=1, description="clips per mapped pose task")
