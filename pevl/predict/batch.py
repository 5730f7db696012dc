"""Batch inference: many videos split into batches, each predicted with one model load, merged in input order.

The Prefect flow `flows/predict.py` maps `predict_batch` over `plan_batches`'s batches on a task
runner; everything here is plain Python, so a batch runs alike in a thread, a process or a Dask
worker. A batch goes out as small records (path, start_frame, end_frame) and comes back as row
dicts of JSON types: what crosses a process or machine boundary. The rows themselves are
`predict_videos`'s (the decode and pose stages' functions, `pevl evaluate`'s model call).

`prepare_job` does every check that can fail before a video is read (the inputs, the output
folder, the model and its views), so a fault stops the run before any work is spent.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

from pevl.data.loader import check_views
from pevl.predict.inputs import InputError, VideoInput, collect_videos
from pevl.predict.model import LoadedModel, load_model
from pevl.predict.predict import STAGE, predict_videos
from pevl.predict.uris import is_model_uri
from pevl.storage.faults import probe_writable
from pevl.storage.outputs import StageError
from schemas import ConfigError, PredictionRow

log = logging.getLogger("pevl.predict")
# What stops a batch prediction with one line before any video is read: bad inputs or views, the system's faults
STOPS = (InputError, ConfigError, StageError)


@dataclass
class BatchJob:
    """A checked batch prediction, ready to fan out.

    Attributes:
        model: the model URI, or the checkpoint's absolute path (what every batch loads, wherever it runs).
        inputs: the inputs as given (folders, videos, list files) and the videos each names, by absolute path.
        videos: every video once, in input order.
        loaded: the model, loaded once here to check it (on the CPU).
        clips, crops: the evaluation views (the model's defaults unless asked).
    """

    model: str
    inputs: dict[str, list[VideoInput]]
    videos: list[VideoInput]
    loaded: LoadedModel
    clips: int
    crops: int


def parse_views(text: str | None) -> tuple[int | None, int | None]:
    """'2x1' -> (2, 1) temporal clips x spatial crops; None -> (None, None), the model's own views."""
    if not text:
        return None, None
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ConfigError(f"views: expected CLIPSxCROPS such as 2x1, got {text!r}")
    return int(parts[0]), int(parts[1])


def prepare_job(inputs: list[str], model: str, out: Path, views: str | None = None,
                tracking_uri: str | None = None) -> BatchJob:
    """Collect the videos, probe the output folder, load the model and check the views; one of STOPS otherwise.

    Paths are made absolute here, against the flow's working directory: a batch may run in another
    process or on another machine.
    """
    clips, crops = parse_views(views)
    named = {item: collect_videos([str(absolute(item))]) for item in inputs}
    videos = list(dict.fromkeys(v for found in named.values() for v in found))
    probe_writable(STAGE, out)  # before any work: an unwritable folder would lose it all
    model = model if is_model_uri(model) else str(absolute(model))
    loaded = load_model(model, "cpu", tracking_uri)
    clips, crops = clips or loaded.cfg.train.eval_clips, crops or loaded.cfg.train.eval_crops
    check_views(loaded.cfg, clips, crops)
    return BatchJob(model, named, videos, loaded, clips, crops)


def absolute(path: str | Path) -> Path:
    """A path with ~ expanded, made absolute against the working directory."""
    return Path(path).expanduser().absolute()


def plan_batches(videos: list[VideoInput], size: int) -> list[list[dict]]:
    """Consecutive batches of at most `size` videos, each video as a record {path, start_frame, end_frame}."""
    if size < 1:
        raise ConfigError(f"batch_size: expected at least 1, got {size}")
    records = [{"path": str(v.path), "start_frame": v.start_frame, "end_frame": v.end_frame} for v in videos]
    return [records[i : i + size] for i in range(0, len(records), size)]


def predict_batch(records: list[dict], model: str, top_k: int, clips: int, crops: int, device: str | None = None,
                  tracking_uri: str | None = None) -> list[dict]:
    """One batch: the model loaded once, `predict_videos` on its videos; the rows as dicts, in order."""
    videos = [VideoInput(Path(r["path"]), r["start_frame"], r["end_frame"]) for r in records]
    rows = predict_videos(videos, model, top_k=top_k, clips=clips, crops=crops, device=device, show_progress=False,
                          tracking_uri=tracking_uri)
    return [row.model_dump(mode="json") for row in rows]


def merge_rows(batches: list[list[dict]]) -> list[PredictionRow]:
    """The batches' rows as one list of PredictionRows, in batch order (the input order)."""
    return [PredictionRow.model_validate(row) for batch in batches for row in batch]


def video_label(row: PredictionRow) -> str:
    """The video as given, with its frame range when it is one."""
    return row.path if row.end_frame is None else f"{row.path} [{row.start_frame}:{row.end_frame}]"


def table_rows(rows: list[PredictionRow]) -> list[dict]:
    """The results as table records: video, status, top-1 class and its probability, reason."""
    return [{"video": video_label(r), "status": r.status, "top-1": r.top_names[0] if r.top_names else "",
             "prob": round(r.top_probs[0], 4) if r.top_probs else None, "reason": r.reason} for r in rows]
