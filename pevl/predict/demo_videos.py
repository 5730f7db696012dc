"""New SynthDive videos through a registered model: how `pevl demo` ends.

`predict_demo_videos` renders a few SynthDive clips with a seed no config renders (so no training
or test split holds them), of classes the model was trained on, and predicts them with
`predict_videos` through the model's URI (`latest_model_uri`: `models:/NAME/<latest version>`).
`prediction_lines` makes the table: video, true class, predicted class, probability.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pevl.datasets.text import diving48_class_text
from pevl.predict.bundle import ModelError
from pevl.predict.inputs import VideoInput
from pevl.predict.predict import predict_videos
from pevl.synth.plan import make_plan
from pevl.synth.vocab import load_vocab
from pevl.synth.writer import render_clip

log = logging.getLogger("pevl.predict")
DEMO_SEED = 7919  # configs render SynthDive with seed 0: these videos are new to every model


@dataclass(frozen=True)
class DemoPrediction:
    """One rendered video and what the model says it shows."""

    video: Path
    label: int
    true_class: str
    predicted_label: int  # -1 when the video was rejected
    predicted: str  # the top-1 class name ("" when the video was rejected)
    prob: float
    reason: str = ""  # why the video was rejected

    @property
    def right(self) -> bool:
        """The top-1 class is the rendered one."""
        return self.predicted_label == self.label


def latest_model_uri(name: str, tracking_uri: str) -> str:
    """`models:/NAME/N` for the newest version of a registered model; ModelError naming it when there is none."""
    from mlflow.tracking import MlflowClient

    try:
        versions = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri).search_model_versions(
            f"name='{name}'")
    except Exception as e:  # MlflowException, a server that does not answer
        why = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise ModelError(f"cannot list the versions of the registered model {name} on {tracking_uri}: {why}") from None
    if not versions:
        raise ModelError(f"the registered model {name} has no version on {tracking_uri}")
    return f"models:/{name}/{max(int(v.version) for v in versions)}"


def render_videos(out: Path, labels: Sequence[int], count: int, seed: int = DEMO_SEED,
                  size: tuple[int, int] = (160, 120)) -> list[tuple[VideoInput, int]]:
    """Render `count` SynthDive clips of distinct classes drawn from `labels` into out/rgb (joints in
    out/keypoints); each as (the video with its annotated frame range, its label)."""
    rng = np.random.default_rng([seed, 4])
    pool = sorted({int(c) for c in labels})
    picked = sorted(int(c) for c in rng.choice(pool, size=min(count, len(pool)), replace=False))
    (out / "rgb").mkdir(parents=True, exist_ok=True)
    (out / "keypoints").mkdir(exist_ok=True)
    first = {}
    for plan in make_plan(picked, clips_per_class=2, seed=seed):  # one clip of each class
        first.setdefault(plan.label, plan)
    videos = []
    for label in picked:
        clip = render_clip(first[label], out, size)
        videos.append((VideoInput(out / "rgb" / f"{clip['vid_name']}.mp4", clip["start_frame"], clip["end_frame"]),
                       label))
    return videos


def predict_demo_videos(model_uri: str, out: Path, labels: Sequence[int], count: int = 4, seed: int = DEMO_SEED,
                        size: tuple[int, int] = (160, 120), tracking_uri: str | None = None) -> list[DemoPrediction]:
    """Render `count` new SynthDive videos of `labels` into `out` and predict them with the model at `model_uri`.

    Args:
        labels: classes the model was trained on (the config's dataset.synth.classes, or all 48).
        size: (width, height) of the videos, as the model's training videos.
        tracking_uri: the MLflow server of a models:/ or runs:/ URI.
    Raises:
        StageError (ModelError) when the model cannot be loaded.
    """
    out = Path(out)
    videos = render_videos(out, labels, count, seed, size)
    log.info("demo: %d SynthDive videos (seed %d) rendered into %s", len(videos), seed, out)
    rows = predict_videos([v for v, _ in videos], model_uri, top_k=1, dataset_root=out, show_progress=False,
                          tracking_uri=tracking_uri)
    out = []
    for (video, label), row in zip(videos, rows):
        true_class = diving48_class_text(label, list(load_vocab()[label])).name  # as the model's class texts name it
        ok = row.status == "ok"
        out.append(DemoPrediction(video.path, label, true_class, row.top_labels[0] if ok else -1,
                                  row.top_names[0] if ok else "", row.top_probs[0] if ok else 0.0, row.reason))
    return out


def prediction_lines(predictions: list[DemoPrediction]) -> list[str]:
    """The table: one row per video (its file name, true class, predicted class, probability), then how many are right."""
    width = max([len("true class"), *(len(p.true_class) for p in predictions)])
    video_width = max([len("video"), *(len(p.video.name) for p in predictions)])
    lines = [f"  {'video':<{video_width}}  {'true class':<{width}}  {'predicted class':<{width}}  probability"]
    for p in predictions:
        guess = p.predicted or f"rejected: {p.reason}"
        prob = f"{p.prob:.2f}" + ("  right" if p.right else "") if p.predicted else "-"
        lines.append(f"  {p.video.name:<{video_width}}  {p.true_class:<{width}}  {guess:<{width}}  {prob}")
    right = sum(p.right for p in predictions)
    return [*lines, f"  {right} of {len(predictions)} right"]
