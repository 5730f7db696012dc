"""HAA500 -> clip index and class texts.

Layout: video/<class>/<class>_NNN.mp4, 20 clips per class. Split by index as in the dataset's
release: 000-015 train, 016 val, 017-019 test. Labels are the sorted class folder names.
"""

import re
from pathlib import Path

from pevl.datasets.common import DatasetError, DatasetIndex, add_unique, make_clip, require_root
from schemas import ClassText

_NAME = re.compile(r"^(?P<cls>.+)_(?P<idx>\d{3})$")


def split_of(index: int) -> str | None:
    """HAA500 split of a clip index: 0-15 train, 16 val, 17-19 test, else None."""
    if 0 <= index <= 15:
        return "train"
    if index == 16:
        return "val"
    if 17 <= index <= 19:
        return "test"
    return None


def class_text(label: int, name: str) -> ClassText:
    """The texts of an HAA500 class from its folder name (e.g. 'badminton_overswing')."""
    words = [w for w in re.split(r"[_\s]+", name) if w]
    action = " ".join(words)
    return ClassText(label=label, name=name, text=f"a person performs {action}", phrases=words or [name])


def read_haa500(root: Path, dataset: str = "haa500") -> DatasetIndex:
    """Read HAA500 from its video/<class>/ folders."""
    root = require_root(root, dataset)
    video = root / "video"
    if not video.is_dir():
        raise DatasetError(f"{dataset}: no video/ folder under {root}")
    names = sorted(p.name for p in video.iterdir() if p.is_dir())
    if not names:
        raise DatasetError(f"{dataset}: {video} has no class folders")
    index = DatasetIndex(classes=[class_text(i, n) for i, n in enumerate(names)])
    seen: set[str] = set()
    for label, name in enumerate(names):
        for path in sorted((video / name).glob("*.mp4")):
            index.records += 1
            clip_id = path.stem
            m = _NAME.match(clip_id)
            if m is None or m["cls"] != name:
                index.reject(clip_id, f"bad annotation: {name}/{path.name} is not named {name}_NNN.mp4")
                continue
            split = split_of(int(m["idx"]))
            if split is None:
                index.reject(clip_id, f"bad annotation: clip index {m['idx']} is outside 000-019")
                continue
            clip = make_clip(index, clip_id, len(names), dataset=dataset, split=split, label=label,
                             source=f"video/{name}/{path.name}")
            add_unique(index, clip, seen)
    return index
