"""Settings of the embedded stand-in models' pretraining (`pevl pretrain clip`, `pevl pretrain poses`).

Both are frozen: a run's settings are written into its JSON record (`model_dump()`) and never change
after it starts; a variant is `model_copy(update=...)`.
"""

from typing import Literal, get_args

from pydantic import ConfigDict, Field

from schemas.base import Strict

Crop = Literal["frame", "person"]
CROPS: tuple[str, ...] = get_args(Crop)  # the framings the CLIP pretrainer renders (ClipPretrainConfig.crop)


class ClipPretrainConfig(Strict):
    """Everything a tiny-CLIP pretraining run depends on (saved beside the weights); the defaults make the shipped file.

    `joint_weight > 0` trains with the dense joint objective instead (pevl/pretrain/clip/dense.py; measured in
    docs/backbone.md, not shipped: `--joint-weight 500 --image-size 48 --crop person --clips 1500
    --epochs 24 --batch-size 128 --threads 2` is the run measured there).
    """

    model_config = ConfigDict(frozen=True)

    model: str = "pevl-tiny"
    clips: int = 3000
    frames_per_clip: int = 12
    render_seed: int = 1000
    seed: int = 0
    epochs: int = 6
    batch_size: int = 256
    lr: float = 2e-3
    wd: float = 0.1
    warmup: int = 50
    workers: int = 1
    threads: int = 1
    crop_scale: tuple[float, float] = (0.6, 1.0)
    shard_size: int = 2000
    joint_weight: float = Field(
        0.0, description="> 0: the in-process trainer with the dense joint loss (clip/dense.py); 0: open_clip_train"
    )
    image_size: int = Field(
        48, description="training image size of the dense trainer (open_clip_train trains at the config's 64 px)"
    )
    crop: Crop = Field(
        "frame",
        description='"frame": square crop of the short-side-96 frame (the shipped file); '
        '"person": the box train.crop=person takes',
    )


class PoseTrainSettings(Strict):
    """What the shipped pose models depend on (seeds 3000-3999 train, 4000-4999 evaluate: no config uses them)."""

    model_config = ConfigDict(frozen=True)

    train_seed: int = 3000
    train_clips: int = 960
    eval_seed: int = 4000
    eval_clips: int = 128
    det_input_size: tuple[int, int] = Field((96, 128), description="(height, width), rtmlib's YOLOX order")
    pose_input_size: tuple[int, int] = Field((64, 64), description="(width, height), rtmlib's RTMPose order")
    crops_per_frame: int = 2
    det_steps: int = 6000
    pose_steps: int = 6000
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 0
    threads: int = 1
