"""The record of one video's prediction: a row of predictions.parquet (`pevl predict`)."""

from typing import Literal

from pydantic import Field

from schemas.base import Strict


class AttributePrediction(Strict):
    """One attribute of the predicted class (Diving48: takeoff, somersaults, twists, position)."""

    name: str
    value: str = Field(description="the top-1 class's value")
    prob: float = Field(ge=0.0, le=1.0, description="summed probability of every class with this value")


class PredictionRow(Strict):
    """One input video, or one window of a long video: its top-k classes, or why it was rejected; where the time went.

    A rejected row keeps the fields known before the failure (path, digest, range, model) and
    leaves the predictions empty. The window fields come last and default to a whole-range row,
    so rows with and without windows share one parquet schema.
    """

    path: str = Field(description="the video as given (a file, or found in a folder or a list file)")
    sha256: str = Field("", description="sha256 of the video's bytes; empty when it cannot be read")
    start_frame: int = Field(0, ge=0, description="first source frame of the predicted range")
    end_frame: int | None = Field(None, ge=0, description="end of the range (exclusive); None: the whole video")
    status: Literal["ok", "rejected"]
    reason: str = Field("", description='why it was rejected: "<kind>: <details>"')
    frame_indices: list[int] = Field([], description="source frame index of each sampled frame")
    views: str = Field("", description="clips x crops views averaged, e.g. 2x1")
    top_labels: list[int] = Field([], description="the k most likely class labels, most likely first")
    top_names: list[str] = Field([], description="their class names")
    top_probs: list[float] = Field([], description="their probabilities (softmax of the view-averaged scores)")
    attributes: list[AttributePrediction] = Field(
        [], description="the top-1 class's attribute values, where the dataset has attributes (Diving48)")
    person_frames: float = Field(0.0, ge=0.0, le=1.0, description="fraction of frames where the main person was found")
    keypoint_score: float = Field(0.0, ge=0.0, le=1.0, description="mean keypoint score over those frames")
    pose_model: str = Field("", description="the pose backend and models that estimated the poses")
    model: str = Field(description="the checkpoint that predicted")
    model_sha256: str
    decode_s: float = Field(0.0, ge=0.0, description="sampling the source + the stored codec's round trip")
    poses_s: float = Field(0.0, ge=0.0, description="person detection, keypoints and main-person tracking together")
    model_s: float = Field(0.0, ge=0.0, description="views, normalisation and the model's forward pass")
    window: int | None = Field(
        None, ge=0, description="the window's place in its video (0, 1, ...), start_frame..end_frame its range; "
        "None: the range predicted whole")
    start_s: float | None = Field(None, ge=0.0, description="a window's start in seconds of the source video")
    end_s: float | None = Field(None, ge=0.0, description="a window's end in seconds of the source video")
    labels: str = Field("", description="the class texts file scored against (--labels); empty: the model's classes")
