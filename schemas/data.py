"""Configs of the data stages: dataset, decode, poses, shards."""

from typing import Literal

from pydantic import Field, model_validator

from schemas.base import Strict

DatasetName = Literal["synthdive", "diving48", "finegym99", "finegym288", "haa500"]


class SynthConfig(Strict):
    """How SynthDive is generated when the dataset is `synthdive` (see pevl.synth.ensure_synthdive)."""

    clips_per_class: int = Field(
        4, ge=2, description="clips rendered per class, split over train/test (>= 2: every class in both)"
    )
    seed: int = Field(0, description="same seed, same annotations, keypoints and videos")
    width: int = Field(320, ge=32, description="video width in pixels, even")
    height: int = Field(240, ge=32, description="video height in pixels, even")
    test_fraction: float = Field(0.25, gt=0.0, lt=1.0, description="share of each class in the test split")
    workers: int = Field(0, ge=0, description="render processes; 0 = all cores")
    classes: list[int] | None = Field(
        None, description="render only these labels (quick runs, tests); null = all 48 Diving48 classes"
    )
    vocab: Literal["all", "rendered"] = Field(
        "all", description="classes Diving48_vocab.json lists: all 48 (Diving48's labels), or only `classes`, "
        "relabelled 0..k-1 in label order, so that a model trained on it knows no other class text (held-out classes)"
    )

    @model_validator(mode="after")
    def _size_and_classes(self) -> "SynthConfig":
        if self.classes is not None and (not self.classes or not all(0 <= c < 48 for c in self.classes)):
            raise ValueError(f"classes must be labels in [0, 48), got {self.classes}")
        if self.vocab == "rendered" and self.classes is None:
            raise ValueError("vocab: rendered needs classes (the labels to render)")
        if self.width % 2 or self.height % 2:
            raise ValueError(f"width and height must be even (video codec), got {self.width}x{self.height}")
        return self


class DatasetConfig(Strict):
    """Which dataset to read and where its raw files are."""

    name: DatasetName = "synthdive"
    root: str = Field("work/synthdive", description="raw dataset root, in the dataset's own layout")
    synth: SynthConfig = SynthConfig()


class DecodeConfig(Strict):
    """Decode stage: T_store frames per clip, short side S, compact storage."""

    frames: int = Field(16, ge=2, description="T_store: frames sampled uniformly over each clip")
    short_side: int = Field(128, ge=16, description="S: frames are resized so the short side is S")
    codec: Literal["mp4v", "h264", "mjpeg"] = Field(
        "mp4v",
        description="stored clip codec, always in an .mp4 container: mp4v and mjpeg through OpenCV, "
        "h264 through PyAV's libx264 (see benchmarks/bench_decode.py for the measured trade-off)",
    )
    h264_crf: int = Field(23, ge=0, le=51, description="libx264 constant rate factor (codec h264)")
    min_frames: int = Field(2, ge=1, description="clips with fewer source frames are rejected")
    seek_after: int = Field(
        300, ge=0, description="seek (instead of decoding from frame 0) when a clip starts after this frame"
    )
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
    det_input_size: tuple[int, int] = Field((640, 640), description="detector input (height, width)")
    pose_input_size: tuple[int, int] = Field(
        (192, 256), description="RTMPose input (width, height); RTMO uses det_input_size"
    )
    device: Literal["cpu", "cuda"] = Field("cpu", description="onnxruntime CPU or CUDA execution provider")
    score_thr: float = Field(
        0.7, ge=0.0, le=1.0, description="RTMO person score threshold (YOLOX end2end uses rtmlib's own 0.3)"
    )
    download: bool = Field(
        True, description="fetch a hub model missing from rtmlib's cache (connected machines only)"
    )
    threads: int = Field(0, ge=0, description="onnxruntime intra-op threads per session; 0 = auto: onnxruntime's default "
                         "when alone, the cores shared out when several CPU estimators run at once")
    batch_frames: int = Field(
        1, ge=1, description="frames per detector (or RTMO) session.run, and RTMPose on all their person crops at "
                             "once; 1 = one frame and one person per run. Same poses either way (not in the cache key); "
                             "a model with a fixed batch dimension runs item by item")


class BlazePoseConfig(Strict):
    """blazepose backend: MediaPipe's pretrained detector + 33-landmark model (real people), run by LiteRT."""

    model_dir: str | None = Field(
        None, description="folder holding pose_detection.tflite and pose_landmark_full.tflite; "
                          "None = the model cache ($PEVL_MODEL_CACHE or ~/.cache/pevl/models/blazepose)"
    )
    download: bool = Field(
        True, description="fetch the pinned mediapipe wheel with pip when the cache lacks the files"
    )
    score_thr: float = Field(0.5, ge=0.0, le=1.0, description="person detector score threshold (MediaPipe's 0.5)")
    presence_thr: float = Field(
        0.5, ge=0.0, le=1.0, description="landmark model's pose presence below which a region holds no person"
    )
    max_people: int = Field(4, ge=1, description="people read per frame at most (each costs one landmark pass)")
    threads: int = Field(1, ge=0, description="LiteRT threads per model; 0 = the runtime's default")


class GroundTruthNoise(Strict):
    """Detector-like errors added to SynthDive's ground-truth joints."""

    jitter_px: float = Field(0.0, ge=0.0, description="Gaussian jitter, pixels at stored size")
    drop_prob: float = Field(0.0, ge=0.0, le=1.0, description="joint dropped: score set low")
    swap_prob: float = Field(0.0, ge=0.0, le=1.0, description="per-frame left/right swap")
    seed: int = 0


class MainPersonConfig(Strict):
    """Main-person tracking across a clip's frames (rtmlib and blazepose backends)."""

    min_iou: float = Field(0.1, ge=0.0, le=1.0, description="box IoU with the last match that links a detection")
    max_jump: float = Field(
        1.0, gt=0.0, description="keypoint displacement that still links, in diagonals of the last box"
    )


class PoseConfig(Strict):
    """Poses stage: 2D keypoints of the main person in every stored frame."""

    backend: Literal["rtmlib", "blazepose", "ground_truth"] = "rtmlib"
    rtmlib: RtmlibConfig = RtmlibConfig()
    blazepose: BlazePoseConfig = BlazePoseConfig()
    ground_truth: GroundTruthNoise = GroundTruthNoise()
    main_person: MainPersonConfig = MainPersonConfig()
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
