"""The run summary: clips (annotation records) = samples + rejects, and the rejects by reason.

A reject reason reads "<kind>: <details>"; rejects are counted by "<stage>/<kind>".
"""

import json
from collections import Counter
from pathlib import Path

from pevl import paths
from pevl.shards.manifest import MANIFEST, SIZES
from pevl.storage.outputs import read_marker
from pevl.storage.tables import count_rows, read_table
from schemas import PipelineConfig, RejectRecord


def reason_kind(reject: RejectRecord) -> str:
    """'decode/empty file' for a decode reject whose reason is 'empty file: x.mp4 has 0 bytes'."""
    return f"{reject.stage}/{reject.reason.split(':', 1)[0].strip()}"


def count_by_reason(rejects: list[RejectRecord]) -> dict[str, int]:
    """Rejects counted by stage/kind, most frequent first."""
    return dict(Counter(reason_kind(r) for r in rejects).most_common())


def read_marker_counts(folder: Path) -> dict[str, int]:
    """The counts recorded in a complete stage folder's marker ({} when not complete)."""
    marker = read_marker(folder)
    return dict(marker.get("counts", {})) if marker else {}


def index_records(cfg: PipelineConfig) -> int:
    """Annotation records of a complete index, counted on disk: clip rows + ingest rejects rows."""
    index = paths.index_dir(cfg)
    if not read_marker(index):
        return 0
    return count_rows(index / "clips.parquet") + count_rows(index / "rejects.parquet")


def _disagreement(shards: Path, samples: int, rejects: int) -> str:
    """'' when the shards marker's counts and sizes.json agree with the rows on disk, else what differs."""
    counts = read_marker_counts(shards)
    sizes = json.loads((shards / SIZES).read_text()) if (shards / SIZES).is_file() else {}
    if counts.get("samples") != samples or counts.get("rejects") != rejects or sum(sizes.values()) != samples:
        return (f"{shards}: manifest {samples} samples, rejects {rejects} rows, sizes.json "
                f"{sum(sizes.values())}, marker {counts.get('samples')} / {counts.get('rejects')}")
    return ""


def summarize(cfg: PipelineConfig) -> dict:
    """Where the run stands, counted from the files on disk (never from a count kept in memory):
    clips, samples, rejects (by reason), pending, and whether nothing is lost."""
    clips = index_records(cfg)
    shards = paths.shards_dir(cfg)
    rejects: list[RejectRecord] = []
    for folder in [paths.index_dir(cfg), paths.decode_dir(cfg), paths.poses_dir(cfg)]:
        if read_marker(folder) and (folder / "rejects.parquet").exists():
            rejects += read_table(folder / "rejects.parquet", RejectRecord)
    samples, disagreement = 0, ""
    if read_marker(shards):
        rejects = read_table(shards / "rejects.parquet", RejectRecord)  # every stage's rejects
        samples = count_rows(shards / MANIFEST)
        disagreement = _disagreement(shards, samples, len(rejects))
    pending = clips - samples - len(rejects)
    return {"clips": clips, "samples": samples, "rejects": len(rejects), "pending": pending,
            "ok": pending == 0 and clips > 0 and not disagreement, "disagreement": disagreement,
            "rejects_by_reason": count_by_reason(rejects), "shards": str(shards) if samples else ""}


def format_summary(summary: dict) -> list[str]:
    """The summary as lines for the console."""
    lines = [f"clips: {summary['clips']}, samples: {summary['samples']}, rejects: {summary['rejects']}"]
    check = "ok" if summary["ok"] else "MISMATCH"
    lines.append(f"records = samples + rejects: {summary['clips']} = {summary['samples']} + "
                 f"{summary['rejects']} ({check})" if summary["pending"] == 0 else
                 f"pending: {summary['pending']} clips not yet sharded or rejected")
    if summary.get("disagreement"):
        lines.append(f"counts disagree: {summary['disagreement']}")
    if summary["rejects_by_reason"]:
        lines.append("rejects by reason:")
        lines += [f"  {kind}: {n}" for kind, n in summary["rejects_by_reason"].items()]
    if summary["shards"]:
        lines.append(f"shards: {summary['shards']}")
    return lines
