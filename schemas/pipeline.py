"""The root pipeline config: one YAML file describes a whole run."""

from pydantic import Field

from schemas.base import Strict
from schemas.data import DatasetConfig, DecodeConfig, PoseConfig, ShardConfig
from schemas.model import ModelConfig
from schemas.train import GridConfig, OrchestrationConfig, TrackingConfig, TrainConfig


class PipelineConfig(Strict):
    """Everything a run needs; each stage reads only its own sections."""

    name: str = "pevl"
    seed: int = 0
    work_dir: str = Field("work/demo", description="every stage writes below this folder")
    dataset: DatasetConfig = DatasetConfig()
    decode: DecodeConfig = DecodeConfig()
    poses: PoseConfig = PoseConfig()
    shards: ShardConfig = ShardConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    tracking: TrackingConfig = TrackingConfig()
    grid: GridConfig = GridConfig()
    orchestration: OrchestrationConfig = OrchestrationConfig()
