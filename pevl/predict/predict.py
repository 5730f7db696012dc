"""`predict_videos`: apply a trained model to video files; one PredictionRow per video, or per window of a long one.

Each video goes through `ClipPipeline` (the decode and pose stages' functions, the evaluation
views) and `score_views` (the model call `pevl evaluate` makes), so the top-1 class of a test
split's raw video is the one `pevl evaluate` predicts for its clip. A bad video becomes a
`rejected` row with its reason and the others go on; a fault of the system (a missing or foreign
checkpoint, an unwritable output folder) raises StageError before any video is read.

A long video is scored in windows (windows.py), each window as a video of that frame range would
be; with `labels` the videos are scored against a file's class texts (vocabulary.py); with
`render` each video gets an annotated MP4 (render.py) and each windowed one a timeline (timeline.py).
"""

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from pevl.data.loader import check_views
from pevl.predict.inputs import VideoInput, as_input
from pevl.predict.model import LoadedModel, load_model
from pevl.predict.pipeline import ClipFrames, ClipPipeline, Rejected
from pevl.predict.render import VideoRender
from pevl.predict.scoring import Prepared, ScoreQueue
from pevl.predict.timeline import save_timeline
from pevl.predict.vocabulary import read_labels, use_labels
from pevl.predict.windows import (
    LONG_FACTOR,
    WindowMode,
    WindowSettings,
    plan_windows,
    sample_windows,
    training_clip_s,
    window_settings,
)
from pevl.progress import progress
from pevl.storage.faults import fault, is_resource_error, os_errors_are_faults, probe_writable
from pevl.storage.integrity import file_sha256
from pevl.storage.tables import write_table
from pevl.train.distributed import set_threads
from pose_extraction.video import SampledClip
from schemas import ConfigError, PredictionRow, save_config

STAGE = "predict"
PREDICTIONS = "predictions.parquet"
CONFIG = "config.yaml"
RENDERS = "render"  # <out>/render/<video stem>.mp4
TIMELINES = "timelines"  # <out>/timelines/<video stem>.png
log = logging.getLogger("pevl.predict")


def _digest(path: Path) -> str:
    """sha256 of a video's bytes; '' when it cannot be read (the decode step then says why)."""
    try:
        return file_sha256(path) if path.is_file() else ""
    except OSError as e:
        if is_resource_error(e):
            raise fault(STAGE, "cannot read", path, e) from None
        return ""


def prepare_clip(video: VideoInput, pipeline: ClipPipeline, loaded: LoadedModel, clips: int, crops: int,
                 extra: dict | None = None, sampled: SampledClip | None = None, sample_s: float = 0.0) -> Prepared:
    """One video (or window) decoded and posed for the model, or its rejected row.

    Args:
        extra: row fields known beforehand (sha256 of the file, window fields, labels file).
        sampled: its frames as `sample_source` samples them, when already read (a window), and
            sample_s the seconds that took; None: `pipeline.prepare` samples them.
    """
    base = {"path": str(video.path), "start_frame": video.start_frame,
            "end_frame": video.end_frame, "views": f"{clips}x{crops}", "pose_model": pipeline.pose_model,
            "model": loaded.path, "model_sha256": loaded.sha256, **(extra or {})}
    base.setdefault("sha256", _digest(video.path))
    try:
        clip = pipeline.prepare(video) if sampled is None else pipeline.prepare_sampled(video, sampled, sample_s)
    except Rejected as e:
        log.warning("predict: %s rejected: %s", video.path, e)
        return Prepared(base, row=PredictionRow(**base, status="rejected", reason=str(e)))
    return Prepared(base, clip)


def predict_clip(video: VideoInput, pipeline: ClipPipeline, loaded: LoadedModel, clips: int, crops: int, top_k: int,
                 extra: dict | None = None, sampled: SampledClip | None = None,
                 sample_s: float = 0.0) -> tuple[PredictionRow, ClipFrames | None]:
    """One video's (or window's) row, scored alone, and the clip it was scored on (None when rejected)."""
    item = prepare_clip(video, pipeline, loaded, clips, crops, extra, sampled, sample_s)
    clip = item.clip
    queue = ScoreQueue(loaded, (clips, crops), top_k, 1)
    queue.add(item)
    queue.flush()
    return item.row, clip


def predict_one(video: VideoInput, pipeline: ClipPipeline, loaded: LoadedModel, clips: int, crops: int,
                top_k: int, labels: str = "") -> PredictionRow:
    """One video's row: its top-k classes and attributes, or rejected with the reason.

    `labels` names the class texts file `loaded` scores against (`use_labels`), for the row.
    """
    return predict_clip(video, pipeline, loaded, clips, crops, top_k, {"labels": labels} if labels else None)[0]


def prepare_video(video: VideoInput, pipeline: ClipPipeline, loaded: LoadedModel, clips: int, crops: int,
                  settings: WindowSettings = WindowSettings(), labels: str = "") -> Iterator[Prepared]:
    """One video's clips for the model: one, or one per window when `settings` window it (windows.py)."""
    extra = {"labels": labels} if labels else {}
    windows, info = plan_windows(video, settings, pipeline.cfg.decode.min_frames)
    if not windows:
        yield prepare_clip(video, pipeline, loaded, clips, crops, extra or None)
        return
    log.info("predict: %s in %d windows of %.1f s", video.path, len(windows), settings.window_s)
    extra["sha256"] = _digest(video.path)
    for i, (window, sampled, sample_s) in enumerate(sample_windows(windows, info, pipeline.cfg.decode)):
        place = {"window": i, "start_s": round(window.start_frame / info.fps, 3),
                 "end_s": round(window.end_frame / info.fps, 3)}
        yield prepare_clip(window, pipeline, loaded, clips, crops, {**extra, **place}, sampled, sample_s)


def write_predictions(out_dir: Path, rows: list[PredictionRow], loaded: LoadedModel) -> Path:
    """predictions.parquet (one row per video) and the model's resolved config.yaml beside it."""
    out_dir = Path(out_dir)
    with os_errors_are_faults(STAGE):
        write_table(out_dir / PREDICTIONS, PredictionRow, rows)
        save_config(loaded.cfg, out_dir / CONFIG)
    return out_dir / PREDICTIONS


def output_stems(videos: list[VideoInput]) -> list[str]:
    """A file-name stem per video, unique in the run: the file's stem, then stem-2, stem-3, ... for repeats."""
    stems: list[str] = []
    for video in videos:
        n, stem = 1, video.path.stem
        while stem in stems:
            n, stem = n + 1, f"{video.path.stem}-{n + 1}"
        stems.append(stem)
    return stems


def _draw(rows: list[PredictionRow], drawn: VideoRender | None, stem: str, out_dir: Path, num_classes: int) -> None:
    """A video's annotated MP4 (when rendered) and, when it was windowed, its timeline, under out_dir."""
    with os_errors_are_faults(STAGE):
        if drawn is not None:
            drawn.save(out_dir / RENDERS / f"{stem}.mp4")
        if rows[0].window is not None:
            title = f"{Path(rows[0].path).name}: top-1 per window"
            save_timeline(rows, num_classes, out_dir / TIMELINES / f"{stem}.png", title)


def predict_videos(
    videos: Iterable[str | Path | VideoInput], model_path: str | Path, out_dir: str | Path | None = None,
    top_k: int = 5, clips: int | None = None, crops: int | None = None, device: str | None = None,
    dataset_root: Path | None = None, show_progress: bool = True, tracking_uri: str | None = None,
    windows: WindowMode = "auto", window_s: float | None = None, stride_s: float | None = None,
    labels: str | Path | None = None, render: bool = False,
) -> list[PredictionRow]:
    """Predict every video with the model `model_path` names; one row per video (per window of a long one), in order.

    Args:
        videos: paths (whole videos) or VideoInputs (a frame range of a video).
        model_path: a checkpoint, or a model URI (runs:/ID, models:/NAME/VERSION, models:/NAME@ALIAS).
        out_dir: when given, where predictions.parquet and the model's config.yaml are written, and
            timelines/<stem>.png for each windowed video.
        top_k: classes kept per video.
        clips, crops: evaluation views (default: the model's train.eval_clips x train.eval_crops).
        device: auto | cpu | cuda (default auto).
        dataset_root: where the ground-truth pose backend reads joints (default: the model config's).
        tracking_uri: the MLflow server of a model URI (default $MLFLOW_TRACKING_URI, then <work_dir>/mlflow.db).
        windows: auto (a video longer than 3 training clips in windows), always, never (windows.py).
        window_s, stride_s: window length and step in seconds (default: the training clip length, half of it).
        labels: a class texts file to score against instead of the model's classes (vocabulary.py).
        render: write render/<stem>.mp4 per video under out_dir (render.py).
    Raises:
        StageError (ModelError, SystemFault) for the system's faults; ConfigError for views the model cannot
        take, a window length it cannot default, or render without out_dir; LabelsError for a bad labels file.
    """
    items = [as_input(v) for v in videos]
    vocabulary = read_labels(labels) if labels else None  # a bad file stops before anything is loaded
    if render and out_dir is None:
        raise ConfigError("render: the annotated videos need an output folder (--out)")
    if out_dir is not None:
        probe_writable(STAGE, Path(out_dir))  # before any work: an unwritable folder would lose it all
    loaded = load_model(model_path, device, tracking_uri)
    if vocabulary:
        loaded = use_labels(loaded, vocabulary)
    cfg = loaded.cfg
    clips, crops = clips or cfg.train.eval_clips, crops or cfg.train.eval_crops
    check_views(cfg, clips, crops)
    set_threads(cfg.train.threads)  # as `pevl evaluate` runs the model
    pipeline = ClipPipeline(cfg, dataset_root, loaded.poses)
    clip_s = training_clip_s(cfg, pipeline.dataset_root) if windows != "never" else None
    settings = window_settings(windows, window_s, stride_s, clip_s)
    log.info("predict: %d videos with %s (%s, %d classes%s, %dx%d views; %s)", len(items), model_path,
             pipeline.pose_model, len(loaded.classes), f" from {labels}" if labels else "", clips, crops,
             describe_windows(settings))
    rows: list[PredictionRow] = []
    labels_name = str(labels) if labels else ""
    # the model sees the clips of several videos at once, as `pevl evaluate` does (scoring.py)
    queue = ScoreQueue(loaded, (clips, crops), top_k, cfg.train.eval_batch_size or cfg.train.batch_size)
    pending: list[tuple[str, list[Prepared], VideoRender | None]] = []  # videos whose rows are not all known
    for video, stem in progress(list(zip(items, output_stems(items))), desc="predict", unit="video",
                                disable=not show_progress):
        drawn = VideoRender() if render else None
        video_items = []
        for item in prepare_video(video, pipeline, loaded, clips, crops, settings, labels_name):
            item.done = drawn.add if drawn is not None else None
            video_items.append(item)
            queue.add(item)
        pending.append((stem, video_items, drawn))
        rows += _completed(pending, out_dir, len(loaded.classes))
    queue.flush()
    rows += _completed(pending, out_dir, len(loaded.classes))
    if out_dir is not None:
        write_predictions(Path(out_dir), rows, loaded)
    return rows


def _completed(pending: list[tuple[str, list[Prepared], VideoRender | None]], out_dir: str | Path | None,
               num_classes: int) -> list[PredictionRow]:
    """The rows of the leading videos whose rows are all known (taken off `pending`), their pictures drawn."""
    rows: list[PredictionRow] = []
    while pending and all(item.row is not None for item in pending[0][1]):
        stem, video_items, drawn = pending.pop(0)
        video_rows = [item.row for item in video_items]
        if out_dir is not None:
            _draw(video_rows, drawn, stem, Path(out_dir), num_classes)
        rows += video_rows
    return rows


def describe_windows(settings: WindowSettings) -> str:
    """When and how the run windows its videos, in words."""
    if settings.mode == "never":
        return "every video whole"
    known = f"training clips: median {settings.clip_s:.2f} s" if settings.clip_s else "training clip length unknown"
    if settings.mode == "auto" and settings.clip_s is None:
        return f"every video whole ({known})"
    every = f"windows of {settings.window_s:.2f} s every {settings.stride_s:.2f} s"
    if settings.mode == "always":
        return f"{every} ({known})"
    return f"{every} for videos longer than {LONG_FACTOR:g} training clips ({known})"


def rejects_by_kind(rows: list[PredictionRow]) -> dict[str, int]:
    """Rejected rows counted by the kind of their reason ("empty file", "undecodable", ...), most frequent first."""
    kinds = Counter(r.reason.split(":", 1)[0].strip() for r in rows if r.status == "rejected")
    return dict(kinds.most_common())


def summary_line(rows: list[PredictionRow]) -> str:
    """'N predicted, M rejected (kind: n, ...)', then '; W windows of V videos' when long videos were windowed."""
    ok = sum(r.status == "ok" for r in rows)
    kinds = rejects_by_kind(rows)
    reasons = f" ({', '.join(f'{k}: {n}' for k, n in kinds.items())})" if kinds else ""
    windowed = sum(r.window == 0 for r in rows)
    windows = f"; {sum(r.window is not None for r in rows)} windows of {windowed} videos" if windowed else ""
    return f"{ok} predicted, {len(rows) - ok} rejected{reasons}{windows}"
