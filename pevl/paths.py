"""Where each stage writes, derived from its inputs and the hash of the config it depends on.

A stage's folder name carries the hash of its own config section chained with the hash of its
input stage, so changing the pose config moves poses, shards and training to new folders while
index and decoded clips are reused. Every stage folder holds `config.yaml` (the resolved config
it was made with) and a `_COMPLETE` marker written last.
"""

from pathlib import Path

from pevl.weights_digest import weights_digest
from schemas import PipelineConfig, config_hash


def work_dir(cfg: PipelineConfig) -> Path:
    """The run's work dir, absolute."""
    return Path(cfg.work_dir).expanduser().resolve()


def dataset_root(cfg: PipelineConfig) -> Path:
    """The raw dataset root, absolute."""
    return Path(cfg.dataset.root).expanduser().resolve()


def index_hash(cfg: PipelineConfig) -> str:
    """Hash of what the clip index depends on: the dataset name and its resolved root."""
    return config_hash({"name": cfg.dataset.name, "root": str(dataset_root(cfg))})


def decode_hash(cfg: PipelineConfig) -> str:
    """Hash of the decoded clips: index + decode config."""
    return config_hash(cfg.decode.model_dump(exclude={"workers"}), index_hash(cfg))


def poses_hash(cfg: PipelineConfig) -> str:
    """Hash of the poses: decoded clips + pose config (+ the contents of local rtmlib model files)."""
    extra = []
    if cfg.poses.backend == "rtmlib":
        files = {name: weights_digest(getattr(cfg.poses.rtmlib, name)) for name in ("det_model", "pose_model")}
        extra = [{k: v for k, v in files.items() if v}] if any(files.values()) else []
    # blazepose's files are pinned by sha256 wherever they lie; other backends hash as before the section existed
    blazepose = {"model_dir", "download", "threads"} if cfg.poses.backend == "blazepose" else True
    # batch_frames changes how the models are run, not the poses (tests/test_pose_batching.py)
    exclude = {"workers": True, "blazepose": blazepose, "rtmlib": {"batch_frames"}}
    return config_hash(cfg.poses.model_dump(exclude=exclude), decode_hash(cfg), *extra)


def shards_hash(cfg: PipelineConfig) -> str:
    """Hash of the shards: poses + shard config."""
    return config_hash(cfg.shards, poses_hash(cfg))


# Train fields that change neither the trained weights nor the val metrics (loader speed,
# logging, which checkpoint or views the evaluate stage uses).
TRAIN_FIELDS_NOT_HASHED = {"num_workers", "decode_cache_mb", "threads", "pin_memory", "log_every", "resume",
                           "eval_batch_size", "eval_clips", "eval_crops", "test_checkpoint", "dist_timeout_s"}


def train_hash(cfg: PipelineConfig) -> str:
    """Hash of a training run: shards + model + train config + seed (+ the contents of local weights)."""
    train = cfg.train.model_dump(exclude=TRAIN_FIELDS_NOT_HASHED)
    weights = weights_digest(cfg.model.pretrained)
    return config_hash(cfg.model, train, cfg.seed, shards_hash(cfg), *([weights] if weights else []))


def index_dir(cfg: PipelineConfig) -> Path:
    """index/: clips.parquet, classes.json, rejects.parquet."""
    return work_dir(cfg) / "index"


def decode_dir(cfg: PipelineConfig) -> Path:
    """decoded/<hash>/: one compact file per clip."""
    return work_dir(cfg) / "decoded" / decode_hash(cfg)


def poses_dir(cfg: PipelineConfig) -> Path:
    """poses/<hash>/: one keypoint array per clip."""
    return work_dir(cfg) / "poses" / poses_hash(cfg)


def shards_dir(cfg: PipelineConfig) -> Path:
    """shards/<hash>/: <split>/<dataset>-<split>-%06d.tar, manifest.parquet, sizes.json."""
    return work_dir(cfg) / "shards" / shards_hash(cfg)


def train_dir(cfg: PipelineConfig) -> Path:
    """runs/<hash>/: checkpoints and evaluation outputs of one training config."""
    return work_dir(cfg) / "runs" / train_hash(cfg)


def grid_dir(cfg: PipelineConfig, spec: dict) -> Path:
    """grids/<hash>/: comparison table and chart of one grid file over one base config.

    A grid without a `study` section hashes as before that section existed."""
    spec = {k: v for k, v in spec.items() if not (k == "study" and v is None)}
    return work_dir(cfg) / "grids" / config_hash(spec, cfg.grid.seeds, train_hash(cfg))


def state_dir() -> Path:
    """Project state for local services (Prefect home, MLflow db, logs): ./.pevl."""
    return Path(".pevl").resolve()
