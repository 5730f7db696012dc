"""Configs of the data stages: dataset, decode, poses, shards."""

from typing import Literal

from pydantic import Field, model_validator

from schemas.base import Strict

DatasetName = Literal["synthdive", "diving48", "finegym99", "finegym288", "haa500"]


class SynthConfig(Strict):
    """How SynthDive is generated when the dataset is `synthdive` and its root is empty."""

    clips_per_class: int = Field(4, ge=1, description="clips rendered per class (split over train/test)")
    seed: int = 0
    width: int = Field(320, ge=32)
    height: int = Field(240, ge=32)
    test_fraction: float = Field(0.25, gt=0.0, lt=1.0)
    workers: int = Field(0, ge=0, description="render processes; 0 = all cores")


class DatasetConfig(Strict):
    """Which dataset to read and where its raw files are."""

    name: DatasetName = "synthdive"
    root: str = Field("work/synthdive", description="raw dataset root, in the dataset's own layout")
    synth: SynthConfig = SynthConfig()


class DecodeConfig(Strict):
    """Decode stage: T_store frames per clip, short side S, compact storage."""

    frames: int = Field(16, ge=2, description="T_store: frames sampled uniformly over each clip")
    short_side: int = Field(128, ge=16, description="S: frames are resized so the short side is S")
    codec: Literal["mp4v", "h264", "mjpeg", "jpeg"] = "mp4v"
    jpeg_quality: int = Field(90, ge=10, le=100)
    min_frames: int = Field(2, ge=1, description="clips with fewer source frames are rejected")
    workers: int = Field(0, ge=0, description="decode processes; 0 = all cores")


class RtmlibConfig(Strict):
    """rtmlib backend: YOLOX + RTMPose through `Body`, or one-stage RTMO."""

    mode: Literal["body", "rtmo"] = "body"
    det_model: str = (
        "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/"
        "yolox_m_8xb8-300e_humanart-c2c7a14a.zip"
    )
    pose_model: str = (
        "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/"
        "rtmpose-m_simcc-body7_pt-body7_420e-256x192-e48f03d0_20230504.zip"
    )
    det_input_size: tuple[int, int] = (640, 640)
    pose_input_size: tuple[int, int] = (192, 256)
    device: Literal["cpu", "cuda"] = "cpu"


class GroundTruthNoise(Strict):
    """Detector-like errors added to SynthDive's ground-truth joints."""

    jitter_px: float = Field(0.0, ge=0.0, description="Gaussian jitter, pixels at stored size")
    drop_prob: float = Field(0.0, ge=0.0, le=1.0, description="joint dropped: score set low")
    swap_prob: float = Field(0.0, ge=0.0, le=1.0, description="per-frame left/right swap")
    seed: int = 0


class PoseConfig(Strict):
    """Poses stage: 2D keypoints of the main person in every stored frame."""

    backend: Literal["rtmlib", "ground_truth"] = "rtmlib"
    rtmlib: RtmlibConfig = RtmlibConfig()
    ground_truth: GroundTruthNoise = GroundTruthNoise()
    workers: int = Field(0, ge=0, description="pose processes; 0 = all cores")

    @model_validator(mode="after")
    def _sizes_positive(self) -> "PoseConfig":
        for name in ("det_input_size", "pose_input_size"):
            size = getattr(self.rtmlib, name)
            if min(size) <= 0:
                raise ValueError(f"rtmlib.{name} must be positive, got {size}")
        return self


class ShardConfig(Strict):
    """Shard stage: WebDataset tars per split."""

    max_samples: int = Field(256, ge=1, description="samples per tar at most")
    max_bytes: int = Field(1 << 28, ge=1 << 16, description="bytes per tar at most")
