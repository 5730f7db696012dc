"""The shards folder's index files: manifest.parquet (one row per sample) and sizes.json."""

import json
from collections import Counter
from pathlib import Path

from pevl.stages.outputs import write_atomic
from pevl.stages.tables import read_table, write_table
from schemas import ManifestRow

MANIFEST = "manifest.parquet"
SIZES = "sizes.json"
SPLITS = ("train", "val", "test")


def write_manifest(folder: Path, rows: list[ManifestRow]) -> dict[str, int]:
    """Write manifest.parquet and sizes.json ({split: samples} for train, val, test). Returns sizes."""
    write_table(Path(folder) / MANIFEST, ManifestRow, rows)
    counts = Counter(r.split for r in rows)
    sizes = {split: counts.get(split, 0) for split in SPLITS}
    write_atomic(Path(folder) / SIZES, json.dumps(sizes, indent=1))
    return sizes


def read_manifest(folder: Path) -> list[ManifestRow]:
    """Rows of a shards folder's manifest.parquet."""
    return read_table(Path(folder) / MANIFEST, ManifestRow)


def read_sizes(folder: Path) -> dict[str, int]:
    """sizes.json of a shards folder: samples per split."""
    return json.loads((Path(folder) / SIZES).read_text())
