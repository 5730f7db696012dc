"""Records that cross stage boundaries (rows of parquet files, JSON in shards)."""

from typing import Literal

from pydantic import Field

from schemas.base import Strict

Split = Literal["train", "val", "test"]


class ClipRecord(Strict):
    """One row of index/clips.parquet: a clip of a source video.

    The clip covers source frames [start_frame, end_frame) at `fps`; None means the whole video.
    """

    clip_id: str = Field(min_length=1)
    dataset: str
    split: Split
    label: int = Field(ge=0)
    source: str = Field(description="video path relative to the dataset root")
    start_frame: int | None = Field(None, ge=0)
    end_frame: int | None = Field(None, ge=0)
    fps: float | None = Field(None, gt=0.0)


class RejectRecord(Strict):
    """One row of a rejects table: a clip that did not become a sample, and why."""

    clip_id: str
    stage: str
    reason: str


class ClassText(Strict):
    """One entry of index/classes.json: the texts of a class."""

    label: int = Field(ge=0)
    name: str = Field(description="the dataset's own class name")
    text: str = Field(description="action-level sentence")
    phrases: list[str] = Field(description="sub-action phrases")
    attributes: dict[str, str] = Field({}, description="e.g. takeoff/somersaults/twists/position")


class StoredClip(Strict):
    """Fields every stored clip record shares (decoded clip, shard sample)."""

    key: str = Field(description="sanitised clip id: letters, digits, '_' and '-' only")
    clip_id: str
    dataset: str
    split: Split
    label: int = Field(ge=0)
    source: str
    frame_indices: list[int] = Field(description="source frame index of each stored frame")
    fps: float = Field(gt=0.0, description="the source video's frame rate")
    height: int = Field(gt=0, description="stored frame height")
    width: int = Field(gt=0, description="stored frame width")


class SampleMeta(StoredClip):
    """The `<key>.json` of a shard sample."""

    num_frames: int = Field(gt=0)
    num_joints: int = Field(gt=0)
    pose_backend: str
    pose_model: str


class StageResult(Strict):
    """What a stage function returns: where it wrote, and whether it reused earlier output."""

    stage: str
    output: str
    config_hash: str
    skipped: bool = False
    counts: dict[str, int] = {}
    metrics: dict[str, float] = {}
    info: dict[str, str] = Field({}, description="e.g. MLflow run ids, checkpoint paths")
    seconds: float = 0.0


class DecodedClip(StoredClip):
    """The decode stage's record of one stored clip (decoded/<hash>/clips/<key>.json)."""

    source_width: int = Field(gt=0)
    source_height: int = Field(gt=0)
    codec: str


class ManifestRow(Strict):
    """One row of shards/<hash>/manifest.parquet: where a sample lives."""

    key: str
    clip_id: str
    dataset: str
    split: Split
    label: int = Field(ge=0)
    shard: str = Field(description="tar path relative to the shards folder")
    num_frames: int = Field(gt=0)
    height: int = Field(gt=0)
    width: int = Field(gt=0)
    num_joints: int = Field(gt=0)
