"""Long videos in windows: when a video is windowed, the windows' frame ranges, their frames in one pass.

When. `always` windows every video, `never` scores each one whole, `auto` (the default) windows a
video (or frame range) longer than LONG_FACTOR x the model's training clip length and scores
shorter ones whole, exactly as before. A model whose training clips cannot be measured here is
never windowed by `auto`.

How long. The window defaults to the training clip length: the median duration of the model's
training clips, measured from the clip index its config names (`<work_dir>/index/clips.parquet`,
train split: the annotated frame range over the source's fps, probed from the video where the
index has none, as for Diving48). The model has only seen clips of about that length, each
sampled to `decode.frames` frames; a longer window spreads those frames thinner than training did.
The stride defaults to half the window, so every moment lies in two windows.

Bounds. Windows of W frames start every S frames from the range's start; when they stop short of
the range's end, one more window, flush with the end, covers the tail. A range no longer than one
window is one window. Each window is a `VideoInput` with its frame range: predicting it alone gives
its row.

One pass. Each window's frames are the `decode.frames` that `sample_source` picks from its range;
the frames of up to CHUNK consecutive windows are decoded in one pass over the file
(`read_frames` at the union of their indices) instead of one pass per window. The codec round
trip, the poses and the views stay per window: they are what a clip of that range would get.
"""

import logging
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pevl import paths
from pevl.predict.inputs import VideoInput
from pevl.storage.tables import read_table
from pose_extraction.video import SampledClip, VideoInfo, probe_video, read_frames, uniform_indices
from schemas import ClipRecord, ConfigError, DecodeConfig, PipelineConfig

log = logging.getLogger("pevl.predict")
WindowMode = Literal["auto", "always", "never"]
LONG_FACTOR = 3.0  # `auto` windows what is longer than 3 training clips: a whole-video score would blur 3+ actions
INDEX_CLIPS = 64  # training clips measured for the median length (sorted by id): ~0.3 s of probing
CHUNK = 32  # windows decoded per pass: ~CHUNK * decode.frames stored-size frames held at once


@dataclass(frozen=True)
class WindowSettings:
    """How a run windows its videos.

    Attributes:
        mode: auto | always | never (module doc).
        window_s, stride_s: window length and step in seconds (None with mode never).
        clip_s: the model's training clip length in seconds; None when unknown.
    """

    mode: WindowMode = "never"
    window_s: float | None = None
    stride_s: float | None = None
    clip_s: float | None = None

    def applies(self, duration_s: float) -> bool:
        """Whether a range of `duration_s` seconds is scored in windows."""
        if self.mode == "auto":
            return self.clip_s is not None and duration_s > LONG_FACTOR * self.clip_s
        return self.mode == "always"


def _clip_seconds(clip: ClipRecord, root: Path, probed: dict[str, VideoInfo | None]) -> float | None:
    """One index clip's duration, probing its source for the fps (and the length of a whole-video clip)."""
    if clip.fps and clip.end_frame is not None:
        return (clip.end_frame - (clip.start_frame or 0)) / clip.fps
    if clip.source not in probed:
        try:
            probed[clip.source] = probe_video(root / clip.source)
        except Exception:  # a source not on this machine measures nothing
            probed[clip.source] = None
    info = probed[clip.source]
    if info is None:
        return None
    end = clip.end_frame if clip.end_frame is not None else info.frame_count
    return (end - (clip.start_frame or 0)) / (clip.fps or info.fps)


def training_clip_s(cfg: PipelineConfig, dataset_root: Path | None = None) -> float | None:
    """Median seconds of the model's training clips (module doc); None when its clip index or videos are not here.

    Args:
        cfg: the model's resolved config (its work dir holds the clip index).
        dataset_root: where the index's sources are (default: the config's dataset root).
    """
    index = paths.index_dir(cfg) / "clips.parquet"
    if not index.is_file():
        return None
    root = Path(dataset_root) if dataset_root else paths.dataset_root(cfg)
    try:
        clips = sorted((c for c in read_table(index, ClipRecord) if c.split == "train"), key=lambda c: c.clip_id)
    except Exception as e:  # an index written by another version: windows then need --window-s
        log.warning("predict: cannot read %s (%s): the training clip length is unknown", index, e)
        return None
    probed: dict[str, VideoInfo | None] = {}
    seconds = [s for c in clips[:INDEX_CLIPS] if (s := _clip_seconds(c, root, probed)) and s > 0]
    return round(statistics.median(seconds), 2) if seconds else None


def window_settings(mode: WindowMode, window_s: float | None, stride_s: float | None,
                    clip_s: float | None) -> WindowSettings:
    """The run's windowing with its defaults filled in (module doc); ConfigError when a length is missing or bad."""
    if mode not in ("auto", "always", "never"):
        raise ConfigError(f"windows: expected auto, always or never, got {mode!r}")
    for name, value in (("window_s", window_s), ("stride_s", stride_s)):
        if value is not None and not value > 0:
            raise ConfigError(f"{name}: expected a positive number of seconds, got {value}")
    if mode == "never":
        return WindowSettings("never", clip_s=clip_s)
    window = window_s or clip_s
    if window is None and mode == "always":
        raise ConfigError("window_s: the model's training clip length is unknown here (no clip index of its "
                          "training data on this machine): give the window length (--window-s)")
    stride = stride_s or (window / 2 if window else None)
    return WindowSettings(mode, window, stride, clip_s)


def window_bounds(start: int, end: int, window: int, stride: int) -> list[tuple[int, int]]:
    """Frame ranges [s, e) of `window` frames every `stride` frames over [start, end), the last flush with end."""
    if end - start <= window:
        return [(start, end)]
    bounds = [(s, s + window) for s in range(start, end - window + 1, stride)]
    if bounds[-1][1] < end:
        bounds.append((end - window, end))
    return bounds


def plan_windows(video: VideoInput, settings: WindowSettings,
                 min_frames: int) -> tuple[list[VideoInput], VideoInfo | None]:
    """The windows of one video and what its container says; ([], None) when it is scored whole.

    A video that cannot be probed is scored whole too: predicting it gives its reject reason.
    """
    if settings.mode == "never":
        return [], None
    try:
        info = probe_video(video.path)
    except Exception:
        return [], None
    end = video.end_frame if video.end_frame is not None else info.frame_count
    if end - video.start_frame < min_frames or not settings.applies((end - video.start_frame) / info.fps):
        return [], None
    window = max(min_frames, round(settings.window_s * info.fps))
    stride = max(1, round(settings.stride_s * info.fps))
    bounds = window_bounds(video.start_frame, end, window, stride)
    return [VideoInput(video.path, s, e) for s, e in bounds], info


def sample_windows(windows: list[VideoInput], info: VideoInfo,
                   cfg: DecodeConfig) -> Iterator[tuple[VideoInput, SampledClip | None, float]]:
    """Each window of one video with the frames `sample_source` gives for its range (BGR), and the seconds that took.

    Frames are decoded in one pass per CHUNK windows. Where a pass fails (a file that ends early,
    a frame that does not decode) its windows come with None: the caller samples each alone,
    which gives that window's reject reason or, for windows before the damage, its frames.
    """
    for first in range(0, len(windows), CHUNK):
        part = windows[first:first + CHUNK]
        started = time.perf_counter()
        wanted = [uniform_indices(w.start_frame, w.end_frame, cfg.frames) for w in part]
        union = sorted(set().union(*wanted))
        try:
            frames = read_frames(part[0].path, union, cfg.seek_after, cfg.short_side, rgb=False)  # (N, H, W, 3)
        except Exception:
            for w in part:
                yield w, None, 0.0
            continue
        share = (time.perf_counter() - started) / len(part)
        row = {index: i for i, index in enumerate(union)}
        for w, indices in zip(part, wanted):
            yield w, SampledClip(frames[[row[i] for i in indices]], indices, info), share
