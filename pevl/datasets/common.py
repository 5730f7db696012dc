"""What every dataset adapter shares: path safety, record validation, sample keys, the result type.

An adapter turns one dataset's on-disk annotation files into a `DatasetIndex`: the clips that look
usable, the class texts, and one reject row for every annotation record that is not usable.
Nothing is dropped silently: `records == len(clips) + len(rejects)`.
"""

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas import ClassText, ClipRecord, RejectRecord

INGEST = "ingest"
# video files the adapters read: Diving48 and HAA500 .mp4, FineGym also .mkv and .webm
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm")
_KEY_BAD = re.compile(r"[^A-Za-z0-9_-]")


class DatasetError(ValueError):
    """The dataset as a whole cannot be read (missing root or annotation file); names the path."""


@dataclass
class DatasetIndex:
    """An adapter's output: clips, class texts, rejects, and how many records were read."""

    clips: list[ClipRecord] = field(default_factory=list)
    classes: list[ClassText] = field(default_factory=list)
    rejects: list[RejectRecord] = field(default_factory=list)
    records: int = 0

    def reject(self, clip_id: str, reason: str) -> None:
        """Record an annotation record that did not become a clip."""
        self.rejects.append(RejectRecord(clip_id=clip_id, stage=INGEST, reason=reason))


def make_key(clip_id: str) -> str:
    """Sanitised sample key: letters, digits, '_' and '-' only, no dots; unique per clip id.

    Ids that need changing (or are long) get a short hash of the original id appended.
    """
    key = _KEY_BAD.sub("_", clip_id)
    if key == clip_id and 0 < len(key) <= 96:
        return key
    digest = hashlib.sha1(clip_id.encode()).hexdigest()[:8]
    return f"{key[:80]}-{digest}"


def safe_source(root: Path, relative: str) -> str:
    """Check that `relative` stays inside `root` (lexically, so symlinked folders still work).

    Returns the normalised relative path; raises ValueError with a reject reason otherwise.
    """
    if not relative or "\x00" in relative:
        raise ValueError(f"bad path: {relative!r} is empty or contains NUL")
    if os.path.isabs(relative):
        raise ValueError(f"path escapes the dataset root: {relative} is absolute")
    norm = os.path.normpath(relative)
    if norm == ".." or norm.startswith(".." + os.sep) or norm == ".":
        raise ValueError(f"path escapes the dataset root: {relative}")
    return norm.replace(os.sep, "/")


def require_root(root: Path, dataset: str) -> Path:
    """The dataset root as an existing folder, else DatasetError naming it."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{dataset}: dataset root {root} does not exist or is not a folder")
    return root


def load_json(path: Path, dataset: str) -> Any:
    """Read an annotation JSON file; DatasetError names the file when it is missing or malformed."""
    if not path.is_file():
        raise DatasetError(f"{dataset}: annotation file {path} not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"{dataset}: {path} is not valid JSON: {e}") from None


def first_existing(root: Path, names: list[str], dataset: str, what: str) -> Path:
    """The first of `names` that exists under root; DatasetError listing them all otherwise."""
    for name in names:
        if (root / name).is_file():
            return root / name
    raise DatasetError(f"{dataset}: no {what} under {root} (looked for {', '.join(names)})")


def make_clip(index: DatasetIndex, clip_id: str, num_classes: int, **fields: Any) -> ClipRecord | None:
    """Validate one clip record; on failure add a reject row and return None.

    Checks: label in [0, num_classes), a valid ClipRecord (types, ranges), end after start.
    """
    label = fields.get("label")
    if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < num_classes:
        index.reject(clip_id, f"label out of range: {label!r} not in [0, {num_classes})")
        return None
    start, end = fields.get("start_frame"), fields.get("end_frame")
    if isinstance(start, int) and isinstance(end, int) and end <= start:
        index.reject(clip_id, f"bad annotation: empty frame range [{start}, {end})")
        return None
    try:
        return ClipRecord(clip_id=clip_id, **fields)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        index.reject(clip_id, f"bad annotation: {where}: {err['msg']} (got {err.get('input')!r})")
        return None


def add_unique(index: DatasetIndex, clip: ClipRecord | None, seen: set[str]) -> None:
    """Append a validated clip unless its id or key was seen before (then reject it)."""
    if clip is None:
        return
    key = make_key(clip.clip_id)
    if clip.clip_id in seen or key in seen:
        index.reject(clip.clip_id, f"duplicate clip id: {clip.clip_id} appears more than once")
        return
    seen.update((clip.clip_id, key))
    index.clips.append(clip)


def checked_source(index: DatasetIndex, root: Path, clip_id: str, relative: str) -> str | None:
    """A source path that stays inside root and exists; else a reject row and None."""
    try:
        norm = safe_source(root, relative)
    except ValueError as e:
        index.reject(clip_id, str(e))
        return None
    if not (root / norm).is_file():
        index.reject(clip_id, f"missing file: {norm} not found under the dataset root")
        return None
    return norm
