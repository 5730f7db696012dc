"""The shards folder's index files: manifest.parquet (one row per sample) and sizes.json.

The manifest is written in row groups as samples are written, so memory stays flat however many
samples there are.
"""

import json
import os
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pevl.storage.outputs import write_atomic
from pevl.storage.tables import SCHEMAS, read_table
from schemas import ManifestRow

MANIFEST = "manifest.parquet"
SIZES = "sizes.json"
SPLITS = ("train", "val", "test")


class ManifestWriter:
    """Stream ManifestRows into manifest.parquet (temp name, renamed on close) and write sizes.json."""

    def __init__(self, folder: Path, batch: int = 1024):
        self.folder, self.batch = Path(folder), batch
        self._tmp = self.folder / f".{MANIFEST}.{os.getpid()}.tmp"
        self._writer = pq.ParquetWriter(self._tmp, SCHEMAS[ManifestRow])
        self._rows: list[dict] = []
        self.counts: Counter = Counter()

    def add(self, row: ManifestRow) -> None:
        """Append one row."""
        self._rows.append(row.model_dump())
        self.counts[row.split] += 1
        if len(self._rows) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=SCHEMAS[ManifestRow]))
            self._rows = []

    def close(self) -> dict[str, int]:
        """Finish manifest.parquet and write sizes.json ({split: samples} for train, val, test)."""
        self._flush()
        self._writer.close()
        os.replace(self._tmp, self.folder / MANIFEST)
        sizes = {split: self.counts.get(split, 0) for split in SPLITS}
        write_atomic(self.folder / SIZES, json.dumps(sizes, indent=1))
        return sizes


def write_manifest(folder: Path, rows: list[ManifestRow]) -> dict[str, int]:
    """Write manifest.parquet and sizes.json from a list of rows. Returns the sizes."""
    writer = ManifestWriter(folder)
    for row in rows:
        writer.add(row)
    return writer.close()


def read_manifest(folder: Path) -> list[ManifestRow]:
    """Rows of a shards folder's manifest.parquet."""
    return read_table(Path(folder) / MANIFEST, ManifestRow)


def read_sizes(folder: Path) -> dict[str, int]:
    """sizes.json of a shards folder: samples per split."""
    return json.loads((Path(folder) / SIZES).read_text())
