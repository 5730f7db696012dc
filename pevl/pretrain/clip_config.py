"""Settings of a tiny-CLIP pretraining run (a light module: `pevl --help` reads its defaults)."""

from dataclasses import dataclass

CROPS = ("frame", "person")  # the framings the pretrainer renders (ClipPretrainConfig.crop)


@dataclass(frozen=True)
class ClipPretrainConfig:
    """Everything a pretraining run depends on (saved beside the weights); the defaults make the shipped file.

    `joint_weight > 0` trains with the dense joint objective instead (clip_dense.py; measured in
    docs/backbone.md, not shipped: `--joint-weight 500 --image-size 48 --crop person --clips 1500
    --epochs 24 --batch-size 128 --threads 2` is the run measured there).
    """

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
    joint_weight: float = 0.0  # > 0: the in-process trainer with the dense joint loss (clip_dense.py); 0: open_clip_train
    image_size: int = 48  # training image size of the dense trainer (open_clip_train trains at the config's 64 px)
    crop: str = "frame"  # "frame": square crop of the short-side-96 frame (the shipped file); "person": the box train.crop=person takes
