"""decode: every index clip -> T_store frames sampled uniformly over its range, short side S, one .mp4.

Per clip, written atomically so a killed run resumes where it stopped:
    decoded/<hash>/clips/<key>.mp4 + <key>.json (schemas.DecodedClip, written last)
    decoded/<hash>/rejects/<key>.json (schemas.RejectRecord) for a clip that cannot be decoded
Then decoded.parquet and rejects.parquet collect them and `_COMPLETE` is written.
Only the input's faults become rejects; an unwritable folder or a failing write stops the stage
(`pevl.storage.faults.SystemFault`), so the rerun resumes instead of reusing a folder full of rejects.
"""

import errno
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pevl import paths
from pevl.datasets import make_key
from pevl.datasets.common import safe_source
from pevl.shards.codec import VIDEO_EXT
from pevl.shards.preprocess import decode_failure, encode_failure, sample_source, store_frames
from pevl.stages.parallel import run_jobs
from pevl.storage.faults import SystemFault, fault, is_resource_error, os_errors_are_faults, probe_writable, writable
from pevl.storage.guard import guarded
from pevl.storage.integrity import describe_outputs
from pevl.storage.outputs import current_marker, finish, input_token, prepare, skipped, write_atomic
from pevl.storage.tables import read_table, write_table
from pose_extraction.video import VideoError
from schemas import ClipRecord, DecodeConfig, DecodedClip, PipelineConfig, RejectRecord, StageResult

STAGE = "decode"
log = logging.getLogger("pevl.stages.decode")


@dataclass(frozen=True)
class DecodeJob:
    """One clip to decode (plain values, sent to a worker process)."""

    clip: dict
    key: str
    root: str
    out: str
    decode: dict


def _write_clip(job: DecodeJob, clip: ClipRecord, cfg: DecodeConfig, out: Path, sampled) -> DecodedClip | str:
    """Store one sampled clip; its record when done, an encoder's reject reason when only this clip fails.

    A write that fails for any OS reason, or an encoder failing in a folder that cannot be
    written, is the system's fault (SystemFault), never the clip's.
    """
    frames, info = sampled.frames, sampled.info  # (T, H, W, 3) BGR
    fps = clip.fps or info.fps
    tmp = out / "clips" / f".{job.key}.{os.getpid()}.tmp.{VIDEO_EXT}"
    try:
        store_frames(frames, fps, cfg, tmp)
    except OSError as e:
        raise fault(STAGE, "cannot write", tmp, e) from None
    except Exception as e:  # the encoder says no: the folder's fault if it cannot be written, else the clip's
        if not writable(out / "clips"):
            raise fault(STAGE, "cannot write", tmp, e) from None
        tmp.unlink(missing_ok=True)
        return encode_failure(e)
    record = DecodedClip(
        key=job.key, clip_id=clip.clip_id, dataset=clip.dataset, split=clip.split, label=clip.label,
        source=clip.source, frame_indices=sampled.indices, fps=fps, height=frames.shape[1],
        width=frames.shape[2], source_width=info.width, source_height=info.height, codec=cfg.codec,
    )
    with os_errors_are_faults(STAGE):
        os.replace(tmp, out / "clips" / f"{job.key}.{VIDEO_EXT}")
        write_atomic(out / "clips" / f"{job.key}.json", record.model_dump_json())  # written last: clip done
    return record


def _read_clip(job: DecodeJob, clip: ClipRecord, cfg: DecodeConfig):
    """The clip's frames sampled from its source video; VideoError/ValueError when the input is bad."""
    path = Path(job.root) / safe_source(Path(job.root), clip.source)
    try:
        return sample_source(path, clip.start_frame or 0, clip.end_frame, cfg)
    except OSError as e:
        if is_resource_error(e):  # the machine, not the video (no memory, no descriptors, I/O error)
            raise fault(STAGE, "cannot read", path, e) from None
        raise


def decode_clip_job(job: DecodeJob) -> tuple[str, DecodedClip | RejectRecord]:
    """Decode, resize and store one clip. Returns (key, the record written: the clip's or its reject).

    Only the input's own faults become a reject; a system fault raises SystemFault.
    """
    clip, cfg, out = ClipRecord.model_validate(job.clip), DecodeConfig.model_validate(job.decode), Path(job.out)
    try:
        sampled = _read_clip(job, clip, cfg)
    except (VideoError, ValueError) as e:
        reason = decode_failure(e)
    except SystemFault:
        raise
    except Exception as e:  # an unreadable source (a decoder error, permission denied): this clip's reject
        log.warning("decode: %s failed", clip.clip_id, exc_info=True)
        reason = decode_failure(e)
    else:
        stored = _write_clip(job, clip, cfg, out, sampled)
        if isinstance(stored, DecodedClip):
            return job.key, stored
        reason = stored
    reject = RejectRecord(clip_id=clip.clip_id, stage=STAGE, reason=reason)
    with os_errors_are_faults(STAGE):
        write_atomic(out / "rejects" / f"{job.key}.json", reject.model_dump_json())
    return job.key, reject


def probe_encoder(cfg: DecodeConfig, folder: Path) -> None:
    """Encode a 2-frame clip into `folder` and remove it: SystemFault when the codec or folder cannot."""
    probe_writable(STAGE, folder)
    tmp = folder / f".probe.{os.getpid()}.tmp.{VIDEO_EXT}"
    try:
        store_frames(np.zeros((2, 16, 16, 3), np.uint8), 25.0, cfg, tmp)
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise OSError(errno.EIO, f"the {cfg.codec} encoder wrote nothing", str(tmp))
    except Exception as e:
        raise fault(STAGE, f"cannot write {cfg.codec} clips to", folder, e) from None
    finally:
        tmp.unlink(missing_ok=True)


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def _collect(out: Path, keys: dict[str, str],
             records: dict[str, DecodedClip | RejectRecord]) -> tuple[list[DecodedClip], list[RejectRecord]]:
    """Every clip's record, in index order: this run's as its workers returned them, an earlier
    (interrupted) run's read back from its .json."""
    decoded, rejects = [], []
    for key in keys:
        record = records.get(key)
        done = out / "clips" / f"{key}.json"
        if isinstance(record, DecodedClip) or (record is None and done.exists()):
            decoded.append(record or DecodedClip.model_validate_json(done.read_text()))
            video = out / "clips" / f"{key}.{VIDEO_EXT}"
            if not video.is_file():  # this stage wrote it before the .json: the system lost it
                raise fault(STAGE, "lost", video, FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT)))
        else:
            path = out / "rejects" / f"{key}.json"
            rejects.append(record or RejectRecord.model_validate(json.loads(path.read_text())))
    return decoded, rejects


@guarded(STAGE)
def run_decode(cfg: PipelineConfig, force: bool = False, verify: bool = False) -> StageResult:
    """Decode every index clip (idempotent, resumable, `decode.workers` processes)."""
    started = time.perf_counter()
    out, config_hash = paths.decode_dir(cfg), paths.decode_hash(cfg)
    inputs = {"ingest": input_token("ingest", paths.index_dir(cfg), paths.index_hash(cfg))}
    marker = None if force else current_marker(out, config_hash, inputs, verify)
    if marker:
        return skipped(STAGE, out, marker)
    prepare(out, force, inputs)
    for sub in ("clips", "rejects"):
        probe_writable(STAGE, out / sub)
        for tmp in (out / sub).glob(".*.tmp*"):
            tmp.unlink()  # a killed run's half-written file
    probe_encoder(cfg.decode, out / "clips")
    clips = read_table(paths.index_dir(cfg) / "clips.parquet", ClipRecord)
    keys = {make_key(c.clip_id): c.clip_id for c in clips}
    todo = [c for c in clips if not (out / "clips" / f"{make_key(c.clip_id)}.json").exists()
            and not (out / "rejects" / f"{make_key(c.clip_id)}.json").exists()]
    if len(todo) < len(clips):
        log.info("decode: resuming, %d of %d clips already done", len(clips) - len(todo), len(clips))
    root, dec = str(paths.dataset_root(cfg)), cfg.decode.model_dump()
    jobs = [DecodeJob(c.model_dump(), make_key(c.clip_id), root, str(out), dec) for c in todo]
    records: dict[str, DecodedClip | RejectRecord] = {}
    for key, record in run_jobs(decode_clip_job, jobs, cfg.decode.workers, "decode", _init_worker):
        records[key] = record
        if isinstance(record, RejectRecord):
            log.debug("decode: rejected %s: %s", key, record.reason)
    decoded, rejects = _collect(out, keys, records)
    write_table(out / "decoded.parquet", DecodedClip, decoded)
    write_table(out / "rejects.parquet", RejectRecord, rejects)
    counts = {"clips": len(clips), "decoded": len(decoded), "rejects": len(rejects)}
    outputs = describe_outputs(out, ["decoded.parquet", "rejects.parquet"], ("clips/*", "rejects/*"))
    return finish(STAGE, out, cfg, config_hash, inputs, counts, started, outputs)
