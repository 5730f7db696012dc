"""shard: decoded clips + poses + classes -> WebDataset tars per split, manifest, sizes, the full rejects.

    shards/<hash>/<split>/<dataset>-<split>-%06d.tar   samples <key>.mp4, <key>.pose.npy, <key>.json
    shards/<hash>/manifest.parquet, sizes.json, classes.json (copied from the index)
    shards/<hash>/rejects.parquet   every reject of every stage: the clips that are not samples
    shards/<hash>/summary.json      records = samples + rejects, rejects by stage and reason

Samples are streamed one at a time (memory does not grow with the dataset) in a fixed order
(split, then key), so a restarted run writes byte-identical tars and keeps those already finished.
"""

import io
import json
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pevl import paths
from pevl.progress import progress
from pevl.shards.codec import VIDEO_EXT
from pevl.shards.manifest import MANIFEST, SIZES, SPLITS, ManifestWriter
from pevl.shards.reader import META_EXT, POSE_EXT
from pevl.shards.writer import TMP_SUFFIX, ShardWriter
from pevl.stages.poses import pose_info
from pevl.stages.summary import count_by_reason, index_records
from pevl.storage.faults import fault, probe_writable
from pevl.storage.guard import guarded
from pevl.storage.integrity import describe_outputs
from pevl.storage.outputs import StageError, current_marker, finish, input_token, prepare, skipped, write_atomic
from pevl.storage.tables import read_table, write_table
from schemas import DecodedClip, ManifestRow, PipelineConfig, RejectRecord, SampleMeta, StageResult

STAGE = "shard"
log = logging.getLogger("pevl.stages.shard")


def _inputs(cfg: PipelineConfig) -> dict[str, str]:
    return {
        "ingest": input_token("ingest", paths.index_dir(cfg), paths.index_hash(cfg)),
        "decode": input_token("decode", paths.decode_dir(cfg), paths.decode_hash(cfg)),
        "poses": input_token("poses", paths.poses_dir(cfg), paths.poses_hash(cfg)),
    }


def build_sample(clip: DecodedClip, cfg: PipelineConfig, info: dict) -> tuple[dict[str, bytes], SampleMeta]:
    """The tar members of one sample: stored clip bytes, pose .npy bytes, meta JSON."""
    video_path = paths.decode_dir(cfg) / "clips" / f"{clip.key}.{VIDEO_EXT}"
    pose_path = paths.poses_dir(cfg) / "clips" / f"{clip.key}.pose.npy"
    try:  # both were written by earlier stages: a missing or unreadable one is a system fault
        video = video_path.read_bytes()
        pose = np.load(pose_path, allow_pickle=False)
    except OSError as e:
        raise fault(STAGE, "cannot read an earlier stage's output", e.filename or pose_path, e) from None
    pose = pose.astype(np.float32, copy=False)  # (T, K, 3)
    if pose.ndim != 3 or pose.shape[0] != len(clip.frame_indices):
        raise ValueError(f"pose shape {pose.shape} does not fit {len(clip.frame_indices)} frames")
    meta = SampleMeta(
        key=clip.key, clip_id=clip.clip_id, dataset=clip.dataset, split=clip.split, label=clip.label,
        source=clip.source, frame_indices=clip.frame_indices, fps=clip.fps, height=clip.height,
        width=clip.width, num_frames=len(clip.frame_indices), num_joints=pose.shape[1],
        pose_backend=info["backend"], pose_model=info["model"],
    )
    buf = io.BytesIO()
    np.save(buf, pose, allow_pickle=False)
    return {VIDEO_EXT: video, POSE_EXT: buf.getvalue(), META_EXT: meta.model_dump_json().encode()}, meta


def _write_split(out: Path, split: str, clips: Iterator[DecodedClip], cfg: PipelineConfig, info: dict,
                 manifest: ManifestWriter, rejects: list[RejectRecord]) -> int:
    prefix = f"{cfg.dataset.name}-{split}"
    with ShardWriter(out / split, prefix, cfg.shards.max_samples, cfg.shards.max_bytes) as writer:
        for clip in clips:
            try:
                fields, meta = build_sample(clip, cfg, info)
            except ValueError as e:  # this clip's pose does not fit its frames (np.load of a bad file too)
                rejects.append(RejectRecord(clip_id=clip.clip_id, stage=STAGE,
                                            reason=f"shard failed: {type(e).__name__}: {e}"))
                continue
            name = writer.write(clip.key, fields)
            manifest.add(ManifestRow(key=meta.key, clip_id=meta.clip_id, dataset=meta.dataset, split=split,
                                     label=meta.label, shard=f"{split}/{name}", num_frames=meta.num_frames,
                                     height=meta.height, width=meta.width, num_joints=meta.num_joints))
    return len(writer.names)


def _ordered(decoded: pa.Table, split: str, skip: set[str]) -> list[int]:
    """Row numbers of one split's clips (not in skip), by key: the fixed order of the tars."""
    keys, splits, ids = (decoded.column(c).to_pylist() for c in ("key", "split", "clip_id"))
    return sorted((i for i in range(len(keys)) if splits[i] == split and ids[i] not in skip),
                  key=lambda i: keys[i])


def _clips(decoded: pa.Table, rows: list[int], bar: Any) -> Iterator[DecodedClip]:
    """DecodedClip records built one at a time (the table stays columnar), counted on the bar."""
    for i in rows:
        yield DecodedClip.model_validate(decoded.slice(i, 1).to_pylist()[0])
        bar.update()


def _upstream_rejects(cfg: PipelineConfig) -> list[RejectRecord]:
    tables = [paths.index_dir(cfg) / "rejects.parquet", paths.decode_dir(cfg) / "rejects.parquet",
              paths.poses_dir(cfg) / "rejects.parquet"]
    return [r for t in tables for r in read_table(t, RejectRecord)]


def _summary(cfg: PipelineConfig, samples: int, rejects: list[RejectRecord]) -> dict:
    records = index_records(cfg)
    return {"records": records, "samples": samples, "rejects": len(rejects),
            "ok": records == samples + len(rejects), "rejects_by_reason": count_by_reason(rejects)}


@guarded(STAGE)
def run_shard(cfg: PipelineConfig, force: bool = False, verify: bool = False) -> StageResult:
    """Write the shards of every posed clip, then verify them (idempotent, resumable)."""
    from pevl.shards.verify import verify_shards

    started = time.perf_counter()
    out, config_hash, inputs = paths.shards_dir(cfg), paths.shards_hash(cfg), _inputs(cfg)
    marker = None if force else current_marker(out, config_hash, inputs, verify)
    if marker:
        return skipped(STAGE, out, marker)
    prepare(out, force, inputs)
    probe_writable(STAGE, out)
    for tmp in out.rglob(f"*{TMP_SUFFIX}"):
        tmp.unlink()  # a tar that a killed run had not finished
    shutil.copyfile(paths.index_dir(cfg) / "classes.json", out / "classes.json")
    rejects = _upstream_rejects(cfg)
    skip = {r.clip_id for r in rejects if r.stage == "poses"}
    decoded = pq.read_table(paths.decode_dir(cfg) / "decoded.parquet")
    info, tars, manifest = pose_info(cfg), 0, ManifestWriter(out)
    order = {split: _ordered(decoded, split, skip) for split in SPLITS}
    total = sum(map(len, order.values()))
    with progress(total=total, desc="shard", unit="clip", report=True) as bar:
        for split, rows in order.items():
            if rows:
                tars += _write_split(out, split, _clips(decoded, rows, bar), cfg, info, manifest, rejects)
    sizes = manifest.close()
    samples = sum(sizes.values())
    write_table(out / "rejects.parquet", RejectRecord, rejects)
    summary = _summary(cfg, samples, rejects)
    write_atomic(out / "summary.json", json.dumps(summary, indent=1))
    checked, defects = verify_shards(out)
    if defects or checked != samples:
        raise StageError(f"shard: verification failed in {out}:\n  " + "\n  ".join(defects[:20]))
    counts = {"records": summary["records"], "samples": samples, "rejects": len(rejects), "tars": tars,
              **{f"samples_{k}": v for k, v in sizes.items()}}
    files = sorted(str(p.relative_to(out)) for p in out.glob("*/*.tar"))
    files += [MANIFEST, SIZES, "rejects.parquet", "classes.json", "summary.json"]
    return finish(STAGE, out, cfg, config_hash, inputs, counts, started, describe_outputs(out, files))
