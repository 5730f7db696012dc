"""FineGym Gym99 / Gym288 -> clip index and class texts.

Files (under the root, or its `annotations/` / `categories/` folders):
    finegym_annotation_info_v1.1.json (or v1.0): {video_id: {E_xxxxxx_yyyyyy: {event, timestamps:
        [[start_s, end_s]], segments: {A_zzzz_wwww: {stages, timestamps: [[s, e], ...]}} | null}}},
        segment timestamps relative to the event start (vault has 3 stages)
    gym99_train_element_v1.1.txt, gym99_val_element.txt (gym288_*): "<video>_E_..._A_... <label>"
    gym99_categories.txt / gym288_categories.txt: "Clabel: n; set: s; Glabel: g; (EV) element text"
    set_categories.txt (optional): "set: s; text"
    videos: videos/<youtube_id>.mp4 or <youtube_id>.mp4 (also .mkv / .webm)
FineGym has no test split: its val list is the evaluation set, written here as split "test".
"""

import math
import re
from pathlib import Path
from typing import Any

from pevl.datasets.common import (
    VIDEO_SUFFIXES,
    DatasetError,
    DatasetIndex,
    add_unique,
    first_existing,
    load_json,
    make_clip,
    require_root,
    safe_source,
)
from pose_extraction.video import VideoError, VideoInfo, probe_video
from schemas import ClassText

EVENTS = {"VT": "vault", "FX": "floor exercise", "BB": "balance beam", "UB": "uneven bars"}
ANNOTATIONS = ["finegym_annotation_info_v1.1.json", "finegym_annotation_info_v1.0.json"]
_CATEGORY = re.compile(r"^Clabel:\s*(\d+);\s*set:\s*(\d+);\s*Glabel:\s*(\d+);\s*\((\w+)\)\s*(.*?)\s*$")
_SET = re.compile(r"^set:\s*(\d+);\s*(?:\((\w+)\)\s*)?(.*?)\s*$")
_CLIP = re.compile(r"^(?P<video>.+)_(?P<event>E_\d+_\d+)_(?P<action>A_\d+_\d+)$")
VIDEO_DIRS = ("videos", ".")


def _find(root: Path, names: list[str], dataset: str, what: str) -> Path:
    folders = [root, root / "annotations", root / "categories"]
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    return first_existing(root, names, dataset, what)  # raises, naming the files


def split_files(variant: str) -> dict[str, list[str]]:
    """Candidate split-list names per split, newest version first."""
    return {
        "train": [f"{variant}_train_element_v1.1.txt", f"{variant}_train_element_v1.0.txt",
                  f"{variant}_train_element.txt"],
        "test": [f"{variant}_val_element.txt", f"{variant}_val_element_v1.1.txt"],
    }


def _phrases(element: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in element:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return [p for p in parts if p]


def read_categories(path: Path, sets: dict[int, str], dataset: str) -> list[ClassText]:
    """Parse a gym99/gym288 categories file into class texts (labels must be 0..C-1)."""
    classes: dict[int, ClassText] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        m = _CATEGORY.match(line.strip())
        if not m:
            raise DatasetError(f"{dataset}: {path.name} line {n} is not 'Clabel: n; set: s; Glabel: g; (EV) text'")
        label, set_id, _glabel, code, element = int(m[1]), int(m[2]), m[3], m[4], m[5]
        event = EVENTS.get(code, code)
        classes[label] = ClassText(
            label=label, name=f"({code}) {element}", text=f"a gymnast performs {element} on the {event}",
            phrases=[event, *_phrases(element)],
            attributes={"event": event, "set": sets.get(set_id, str(set_id))},
        )
    if sorted(classes) != list(range(len(classes))):
        raise DatasetError(f"{dataset}: {path.name} labels are not 0..{len(classes) - 1}")
    return [classes[i] for i in range(len(classes))]


def read_sets(root: Path) -> dict[int, str]:
    """set id -> set text from the optional set_categories.txt."""
    for folder in (root, root / "annotations", root / "categories"):
        path = folder / "set_categories.txt"
        if path.is_file():
            out = {}
            for line in path.read_text(encoding="utf-8").splitlines():
                m = _SET.match(line.strip())
                if m:
                    out[int(m[1])] = m[3] or line.strip()
            return out
    return {}


class _Videos:
    """Finds each raw video and probes its fps once."""

    def __init__(self, root: Path):
        self.root = root
        self.cache: dict[str, tuple[str, VideoInfo] | str] = {}

    def lookup(self, video_id: str) -> tuple[str, VideoInfo] | str:
        """(relative path, info) or a reject reason."""
        if video_id not in self.cache:
            self.cache[video_id] = self._probe(video_id)
        return self.cache[video_id]

    def _probe(self, video_id: str) -> tuple[str, VideoInfo] | str:
        try:
            rel = [safe_source(self.root, f"{d}/{video_id}{ext}") for d in VIDEO_DIRS for ext in VIDEO_SUFFIXES]
        except ValueError as e:
            return str(e)
        found = next((r for r in rel if (self.root / r).is_file()), None)
        if found is None:
            return f"missing file: no video {video_id}.mp4 under the dataset root or videos/"
        try:
            return found, probe_video(self.root / found)
        except VideoError as e:
            return str(e)


def _span(events: dict, ids: re.Match) -> tuple[float, float] | str:
    """Clip start/end in seconds from the annotation, or a reject reason."""
    try:
        event = events[ids["event"]]
        segments = event.get("segments") or {}
        stages = segments[ids["action"]]["timestamps"]
        t0 = float(event["timestamps"][0][0])
        start, end = t0 + float(stages[0][0]), t0 + float(stages[-1][1])
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
        return f"bad annotation: no usable timestamps for {ids['event']}/{ids['action']} ({type(e).__name__}: {e})"
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start or start < 0:
        return f"bad annotation: empty or negative time range [{start}, {end}] s"
    return start, end


def _add_line(index: DatasetIndex, line: str, where: str, split: str, ctx: dict[str, Any]) -> None:
    parts = line.split()
    clip_id = parts[0] if parts else where
    ids = _CLIP.match(clip_id) if len(parts) == 2 else None
    if ids is None or not re.fullmatch(r"-?\d+", parts[1]):
        index.reject(clip_id, f"bad annotation: {where} is not '<video>_E_..._A_... <label>'")
        return
    events = ctx["annotations"].get(ids["video"])
    if not isinstance(events, dict):
        index.reject(clip_id, f"bad annotation: video {ids['video']} not in the annotation file")
        return
    span = _span(events, ids)
    if isinstance(span, str):
        index.reject(clip_id, span)
        return
    found = ctx["videos"].lookup(ids["video"])
    if isinstance(found, str):
        index.reject(clip_id, found)
        return
    source, info = found
    # 1e-6 absorbs float error: 2.2 s at 25 fps is frame 55, not 56
    start, end = math.floor(span[0] * info.fps + 1e-6), math.ceil(span[1] * info.fps - 1e-6)
    if info.frame_count > start:
        end = min(end, info.frame_count)
    clip = make_clip(index, clip_id, ctx["num_classes"], dataset=ctx["dataset"], split=split,
                     label=int(parts[1]), source=source, start_frame=start, end_frame=end, fps=info.fps)
    add_unique(index, clip, ctx["seen"])


def read_finegym(root: Path, variant: str = "gym99", dataset: str = "finegym99") -> DatasetIndex:
    """Read FineGym (variant gym99 or gym288) from its annotation, split and category files."""
    root = require_root(root, dataset)
    annotations = load_json(_find(root, ANNOTATIONS, dataset, "annotation JSON"), dataset)
    if not isinstance(annotations, dict):
        raise DatasetError(f"{dataset}: the annotation JSON must map video ids to events")
    categories = _find(root, [f"{variant}_categories.txt"], dataset, "categories file")
    index = DatasetIndex(classes=read_categories(categories, read_sets(root), dataset))
    ctx = {"annotations": annotations, "videos": _Videos(root), "num_classes": len(index.classes),
           "dataset": dataset, "seen": set()}
    for split, names in split_files(variant).items():
        path = _find(root, names, dataset, f"{split} split list")
        lines = [(n, ln.strip()) for n, ln in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)]
        for n, line in lines:
            if line:
                index.records += 1
                _add_line(index, line, f"{path.name} line {n}", split, ctx)
    return index
