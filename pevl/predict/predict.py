"""`predict_videos`: apply a trained model to video files; one PredictionRow per video.

Each video goes through `ClipPipeline` (the decode and pose stages' functions, the evaluation
views) and `score_views` (the model call `pevl evaluate` makes), so the top-1 class of a test
split's raw video is the one `pevl evaluate` predicts for its clip. A bad video becomes a
`rejected` row with its reason and the others go on; a fault of the system (a missing or foreign
checkpoint, an unwritable output folder) raises StageError before any video is read.
"""

import logging
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from pevl.data.loader import check_views
from pevl.predict.inputs import VideoInput, as_input
from pevl.predict.model import LoadedModel, load_model
from pevl.predict.pipeline import ClipFrames, ClipPipeline, Rejected
from pevl.progress import progress
from pevl.storage.faults import fault, is_resource_error, os_errors_are_faults, probe_writable
from pevl.storage.integrity import file_sha256
from pevl.storage.tables import write_table
from pevl.train.distributed import set_threads
from pevl.train.loop import score_views
from pevl.train.metrics import class_attributes
from schemas import AttributePrediction, PredictionRow, save_config

STAGE = "predict"
PREDICTIONS = "predictions.parquet"
CONFIG = "config.yaml"
log = logging.getLogger("pevl.predict")


def top_classes(scores: np.ndarray, probs: np.ndarray, classes: list[dict],
                k: int) -> tuple[list[int], list[str], list[float]]:
    """Labels, names and probabilities of the k best-scored classes.

    Ranked by the scores, as `pevl evaluate` ranks them (ties by label), not by the rounded probabilities.
    """
    order = np.argsort(-scores, kind="stable")[: min(k, len(scores))]
    return [int(c) for c in order], [classes[c]["name"] for c in order], [float(probs[c]) for c in order]


def attribute_predictions(scores: np.ndarray, probs: np.ndarray, classes: list[dict]) -> list[AttributePrediction]:
    """The top-1 class's attribute values, each with the summed probability of the classes that share it."""
    attributes = class_attributes(classes)
    top = int(np.argmax(scores))
    out = []
    for name, value in sorted(attributes[top].items()):
        share = sum(float(p) for p, a in zip(probs, attributes) if a.get(name) == value)
        out.append(AttributePrediction(name=name, value=value, prob=min(1.0, share)))
    return out


def _class_scores(loaded: LoadedModel, batch: dict) -> tuple[np.ndarray, np.ndarray]:
    """The view-averaged class scores (C,) of a one-clip batch and their softmax (C,)."""
    import torch

    with torch.no_grad():
        scores = score_views(loaded.model, batch, loaded.device, loaded.dtype)[0]  # (C,)
        probs = torch.softmax(scores, dim=0)
    return scores.cpu().numpy(), probs.cpu().numpy().astype(np.float64)


def _digest(path: Path) -> str:
    """sha256 of a video's bytes; '' when it cannot be read (the decode step then says why)."""
    try:
        return file_sha256(path) if path.is_file() else ""
    except OSError as e:
        if is_resource_error(e):
            raise fault(STAGE, "cannot read", path, e) from None
        return ""


def _pose_quality(clip: ClipFrames) -> tuple[float, float]:
    """(fraction of frames with the main person, mean keypoint score over those frames)."""
    scores = clip.keypoints[..., 2]  # (T, K)
    found = (scores > 0).any(axis=1)
    return float(found.mean()), float(scores[found].mean()) if found.any() else 0.0


def predict_one(video: VideoInput, pipeline: ClipPipeline, loaded: LoadedModel, clips: int, crops: int,
                top_k: int) -> PredictionRow:
    """One video's row: its top-k classes and attributes, or rejected with the reason."""
    base = {"path": str(video.path), "sha256": _digest(video.path), "start_frame": video.start_frame,
            "end_frame": video.end_frame, "views": f"{clips}x{crops}", "pose_model": pipeline.pose_model,
            "model": loaded.path, "model_sha256": loaded.sha256}
    try:
        clip = pipeline.prepare(video)
    except Rejected as e:
        log.warning("predict: %s rejected: %s", video.path, e)
        return PredictionRow(**base, status="rejected", reason=str(e))
    started = time.perf_counter()
    scores, probs = _class_scores(loaded, pipeline.views(clip, clips, crops))
    model_s = time.perf_counter() - started
    labels, names, top_probs = top_classes(scores, probs, loaded.classes, top_k)
    person_frames, keypoint_score = _pose_quality(clip)
    return PredictionRow(
        **base, status="ok", frame_indices=clip.frame_indices, top_labels=labels, top_names=names,
        top_probs=top_probs, attributes=attribute_predictions(scores, probs, loaded.classes),
        person_frames=person_frames, keypoint_score=min(1.0, keypoint_score),
        decode_s=clip.decode_s, poses_s=clip.poses_s, model_s=model_s,
    )


def write_predictions(out_dir: Path, rows: list[PredictionRow], loaded: LoadedModel) -> Path:
    """predictions.parquet (one row per video) and the model's resolved config.yaml beside it."""
    out_dir = Path(out_dir)
    with os_errors_are_faults(STAGE):
        write_table(out_dir / PREDICTIONS, PredictionRow, rows)
        save_config(loaded.cfg, out_dir / CONFIG)
    return out_dir / PREDICTIONS


def predict_videos(
    videos: Iterable[str | Path | VideoInput], model_path: str | Path, out_dir: str | Path | None = None,
    top_k: int = 5, clips: int | None = None, crops: int | None = None, device: str | None = None,
    dataset_root: Path | None = None, show_progress: bool = True, tracking_uri: str | None = None,
) -> list[PredictionRow]:
    """Predict every video with the model `model_path` names; one row per video, in order.

    Args:
        videos: paths (whole videos) or VideoInputs (a frame range of a video).
        model_path: a checkpoint, or a model URI (runs:/ID, models:/NAME/VERSION, models:/NAME@ALIAS).
        out_dir: when given, where predictions.parquet and the model's config.yaml are written.
        top_k: classes kept per video.
        clips, crops: evaluation views (default: the model's train.eval_clips x train.eval_crops).
        device: auto | cpu | cuda (default auto).
        dataset_root: where the ground-truth pose backend reads joints (default: the model config's).
        tracking_uri: the MLflow server of a model URI (default $MLFLOW_TRACKING_URI, then <work_dir>/mlflow.db).
    Raises:
        StageError (ModelError, SystemFault) for the system's faults; ConfigError for views the model cannot take.
    """
    items = [as_input(v) for v in videos]
    if out_dir is not None:
        probe_writable(STAGE, Path(out_dir))  # before any work: an unwritable folder would lose it all
    loaded = load_model(model_path, device, tracking_uri)
    cfg = loaded.cfg
    clips, crops = clips or cfg.train.eval_clips, crops or cfg.train.eval_crops
    check_views(cfg, clips, crops)
    set_threads(cfg.train.threads)  # as `pevl evaluate` runs the model
    pipeline = ClipPipeline(cfg, dataset_root, loaded.poses)
    log.info("predict: %d videos with %s (%s, %d classes, %dx%d views)", len(items), model_path,
             pipeline.pose_model, len(loaded.classes), clips, crops)
    rows = [predict_one(v, pipeline, loaded, clips, crops, top_k)
            for v in progress(items, desc="predict", unit="video", disable=not show_progress)]
    if out_dir is not None:
        write_predictions(Path(out_dir), rows, loaded)
    return rows


def rejects_by_kind(rows: list[PredictionRow]) -> dict[str, int]:
    """Rejected rows counted by the kind of their reason ("empty file", "undecodable", ...), most frequent first."""
    kinds = Counter(r.reason.split(":", 1)[0].strip() for r in rows if r.status == "rejected")
    return dict(kinds.most_common())


def summary_line(rows: list[PredictionRow]) -> str:
    """'N predicted, M rejected (kind: n, ...)'."""
    ok = sum(r.status == "ok" for r in rows)
    kinds = rejects_by_kind(rows)
    reasons = f" ({', '.join(f'{k}: {n}' for k, n in kinds.items())})" if kinds else ""
    return f"{ok} predicted, {len(rows) - ok} rejected{reasons}"
