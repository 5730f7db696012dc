"""Parquet tables of pydantic records (clips, rejects, decoded clips, manifest, predictions), written atomically."""

import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from pevl.storage.outputs import write_atomic
from schemas import ClassText, ClipRecord, DecodedClip, ManifestRow, PredictionRow, RejectRecord

M = TypeVar("M", bound=BaseModel)

_OPT_INT, _INT, _STR, _FLOAT = pa.int64(), pa.int64(), pa.string(), pa.float64()
SCHEMAS: dict[type[BaseModel], pa.Schema] = {
    ClipRecord: pa.schema([("clip_id", _STR), ("dataset", _STR), ("split", _STR), ("label", _INT),
                           ("source", _STR), ("start_frame", _OPT_INT), ("end_frame", _OPT_INT),
                           ("fps", _FLOAT)]),
    RejectRecord: pa.schema([("clip_id", _STR), ("stage", _STR), ("reason", _STR)]),
    DecodedClip: pa.schema([("key", _STR), ("clip_id", _STR), ("dataset", _STR), ("split", _STR),
                            ("label", _INT), ("source", _STR), ("frame_indices", pa.list_(_INT)),
                            ("fps", _FLOAT), ("height", _INT), ("width", _INT), ("source_width", _INT),
                            ("source_height", _INT), ("codec", _STR)]),
    ManifestRow: pa.schema([("key", _STR), ("clip_id", _STR), ("dataset", _STR), ("split", _STR),
                            ("label", _INT), ("shard", _STR), ("num_frames", _INT), ("height", _INT),
                            ("width", _INT), ("num_joints", _INT)]),
    PredictionRow: pa.schema([("path", _STR), ("sha256", _STR), ("start_frame", _INT), ("end_frame", _OPT_INT),
                              ("status", _STR), ("reason", _STR), ("frame_indices", pa.list_(_INT)),
                              ("views", _STR), ("top_labels", pa.list_(_INT)), ("top_names", pa.list_(_STR)),
                              ("top_probs", pa.list_(_FLOAT)),
                              ("attributes", pa.list_(pa.struct([("name", _STR), ("value", _STR), ("prob", _FLOAT)]))),
                              ("person_frames", _FLOAT),
                              ("keypoint_score", _FLOAT), ("pose_model", _STR), ("model", _STR),
                              ("model_sha256", _STR), ("decode_s", _FLOAT), ("poses_s", _FLOAT), ("model_s", _FLOAT),
                              ("window", _OPT_INT), ("start_s", _FLOAT), ("end_s", _FLOAT), ("labels", _STR)]),
}


def write_table(path: Path, model: type[M], records: Iterable[M]) -> int:
    """Write records of `model` as a parquet file (atomically). Returns the row count."""
    rows = [r.model_dump() for r in records]
    table = pa.Table.from_pylist(rows, schema=SCHEMAS[model])
    buf = io.BytesIO()
    pq.write_table(table, buf)
    write_atomic(path, buf.getvalue())
    return len(rows)


def read_table(path: Path, model: type[M]) -> list[M]:
    """Read a parquet file written by write_table back into validated records."""
    return [model.model_validate(row) for row in pq.read_table(path).to_pylist()]


def read_rows(path: Path, model: type[M], column: str, values: Iterable[str]) -> list[M]:
    """The records of a parquet table whose `column` is one of `values`, in the table's order.

    Only those rows are turned into records: a batch of a large table costs its own size, not the table's.
    """
    import pyarrow.compute as pc

    table = pq.read_table(path)
    wanted = table.filter(pc.is_in(table[column], value_set=pa.array(list(values), type=table.schema.field(column).type)))
    return [model.model_validate(row) for row in wanted.to_pylist()]


def count_rows(path: Path) -> int:
    """Rows of a parquet file (0 when it does not exist)."""
    return pq.ParquetFile(path).metadata.num_rows if Path(path).exists() else 0


def write_classes(path: Path, classes: list[ClassText]) -> None:
    """Write classes.json: a list of ClassText ordered by label."""
    write_atomic(path, json.dumps([c.model_dump() for c in classes], indent=1, ensure_ascii=False))


def read_classes(path: Path) -> list[ClassText]:
    """Read classes.json."""
    return [ClassText.model_validate(c) for c in json.loads(Path(path).read_text(encoding="utf-8"))]
