"""Typed configs and records shared by every stage. Imports no torch and no prefect."""

from schemas.data import (
    DatasetConfig,
    DecodeConfig,
    GroundTruthNoise,
    MainPersonConfig,
    PoseConfig,
    RtmlibConfig,
    ShardConfig,
    SynthConfig,
)
from schemas.loading import ConfigError, apply_overrides, config_hash, flatten, load_config, save_config
from schemas.model import AdapterConfig, ModelConfig, SGMCConfig, UCMRConfig
from schemas.pipeline import PipelineConfig
from schemas.predict import AttributePrediction, PredictionRow
from schemas.pretrain import ClipPretrainConfig, PoseTrainSettings
from schemas.records import (
    ClassText,
    ClipRecord,
    DecodedClip,
    ManifestRow,
    RejectRecord,
    SampleMeta,
    StageResult,
)
from schemas.train import (GridConfig, GridRun, GridSpec, OrchestrationConfig, StudyAxis, StudyGain, StudySpec,
                           TrackingConfig, TrainConfig)

__all__ = [
    "AdapterConfig", "AttributePrediction", "ClassText", "ClipPretrainConfig", "ClipRecord", "ConfigError", "DatasetConfig", "DecodeConfig", "DecodedClip",
    "GridConfig", "GridRun", "GridSpec", "GroundTruthNoise", "MainPersonConfig", "ManifestRow", "ModelConfig", "OrchestrationConfig",
    "PipelineConfig", "PoseConfig", "PoseTrainSettings", "PredictionRow", "RejectRecord", "RtmlibConfig", "SGMCConfig", "SampleMeta",
    "ShardConfig", "StageResult", "StudyAxis", "StudyGain", "StudySpec", "SynthConfig", "TrackingConfig", "TrainConfig", "UCMRConfig",
    "apply_overrides", "config_hash", "flatten", "load_config", "save_config",
]
