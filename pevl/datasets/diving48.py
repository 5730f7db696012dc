"""Diving48 (and SynthDive, written in the same layout) -> clip index and class texts.

Layout under the root:
    Diving48_vocab.json                       48 lists [takeoff, somersault, twist, position]
    Diving48_V2_train.json / _test.json       lists of {vid_name, label, start_frame, end_frame}
                                              (end exclusive); V1 names Diving48_train.json also read
    rgb/<vid_name>.mp4
"""

from pathlib import Path
from typing import Any

from pevl.datasets.common import (
    DatasetError,
    DatasetIndex,
    add_unique,
    checked_source,
    first_existing,
    load_json,
    make_clip,
    require_root,
)
from pevl.datasets.text import diving48_class_text

VOCAB = "Diving48_vocab.json"
SPLIT_FILES = {
    "train": ["Diving48_V2_train.json", "Diving48_train.json"],
    "test": ["Diving48_V2_test.json", "Diving48_test.json"],
}
FIELDS = ("vid_name", "label", "start_frame", "end_frame")


def read_vocab(root: Path, dataset: str) -> list[list[str]]:
    """The class vocabulary: a list of [takeoff, somersault, twist, position] code lists."""
    vocab = load_json(root / VOCAB, dataset)
    ok = isinstance(vocab, list) and vocab and all(
        isinstance(v, list) and len(v) == 4 and all(isinstance(c, str) for c in v) for v in vocab
    )
    if not ok:
        raise DatasetError(f"{dataset}: {root / VOCAB} must be a list of 4-string lists")
    return vocab


def _record_id(record: Any, split: str, position: int) -> str:
    if isinstance(record, dict) and isinstance(record.get("vid_name"), str) and record["vid_name"]:
        return record["vid_name"]
    return f"{split}#{position}"


def _add_record(index: DatasetIndex, root: Path, record: Any, split: str, position: int,
                dataset: str, num_classes: int, seen: set[str]) -> None:
    clip_id = _record_id(record, split, position)
    if not isinstance(record, dict):
        index.reject(clip_id, f"bad annotation: record is {type(record).__name__}, not an object")
        return
    missing = [f for f in FIELDS if f not in record]
    if missing:
        index.reject(clip_id, f"bad annotation: missing field(s) {', '.join(missing)}")
        return
    source = checked_source(index, root, clip_id, f"rgb/{record['vid_name']}.mp4")
    if source is None:
        return
    clip = make_clip(
        index, clip_id, num_classes, dataset=dataset, split=split, label=record["label"],
        source=source, start_frame=record["start_frame"], end_frame=record["end_frame"],
    )
    add_unique(index, clip, seen)


def read_diving48(root: Path, dataset: str = "diving48") -> DatasetIndex:
    """Read a Diving48-layout dataset (`dataset` names the rows: diving48 or synthdive)."""
    root = require_root(root, dataset)
    vocab = read_vocab(root, dataset)
    index = DatasetIndex(classes=[diving48_class_text(i, codes) for i, codes in enumerate(vocab)])
    seen: set[str] = set()
    for split, names in SPLIT_FILES.items():
        records = load_json(first_existing(root, names, dataset, f"{split} annotation file"), dataset)
        if not isinstance(records, list):
            raise DatasetError(f"{dataset}: {names[0]} must hold a JSON list of records")
        index.records += len(records)
        for position, record in enumerate(records):
            _add_record(index, root, record, split, position, dataset, len(vocab), seen)
    return index
