"""poses: every decoded clip -> the main person's (T_store, K, 3) keypoints in stored-frame pixels + boxes.

Per clip, written atomically (a killed run resumes):
    poses/<hash>/clips/<key>.bbox.npy (T, 4) float32, then <key>.pose.npy (T, K, 3) float32 (last)
    poses/<hash>/rejects/<key>.json when the estimator fails on that clip
Then info.json (backend, model, joints), rejects.parquet and `_COMPLETE`.

The work is split so an orchestrator can fan it out: `start_poses` (plan), `estimate_batch` (any
subset of keys, any process), `finish_poses` (collect and mark complete); `run_poses` chains them.
"""

import io
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pevl import paths
from pevl.shards.codec import VIDEO_EXT, decode_clip
from pevl.shards.preprocess import estimate_poses, pose_failure
from pevl.stages.parallel import run_jobs
from pevl.storage.faults import fault, is_resource_error, os_errors_are_faults, probe_writable
from pevl.storage.guard import guarded
from pevl.storage.integrity import describe_outputs
from pevl.storage.outputs import (
    StageError,
    current_marker,
    finish,
    input_token,
    prepare,
    read_marker,
    resolve_workers,
    skipped,
    write_atomic,
)
from pevl.storage.tables import read_rows, read_table, write_table
from pose_extraction.build import domain_warning
from schemas import DecodedClip, PipelineConfig, PoseConfig, RejectRecord, StageResult

STAGE = "poses"
log = logging.getLogger("pevl.stages.poses")
_LOCAL = threading.local()


def _worker() -> dict:
    """This thread's estimator state: thread-local, so batches on a thread runner each have one."""
    return _LOCAL.__dict__


@dataclass(frozen=True)
class PoseJob:
    """One decoded clip to run the estimator on (plain values, sent to a worker process)."""

    clip: dict
    decoded_dir: str
    out: str


def _init_estimator(poses: dict, dataset_root: str) -> None:
    """Build this thread's estimator once; a failure is kept and reported by every job.

    A later batch with the same pose config and dataset root (a task runner's worker running one
    batch after another) keeps the estimator already built: building it costs more than posing a
    few clips, so rebuilding it per batch made the stage's cost grow with the number of batches.
    """
    from pose_extraction import build_estimator

    key = (json.dumps(poses, sort_keys=True), dataset_root)
    if _worker().get("key") == key and "estimator" in _worker():
        return
    _worker().clear()
    _worker()["key"] = key
    try:
        _worker()["estimator"] = build_estimator(PoseConfig.model_validate(poses), Path(dataset_root))
    except Exception as e:  # reported to the parent, which stops the stage with this message
        _worker()["error"] = f"{type(e).__name__}: {e}"


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write one array as .npy atomically."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    write_atomic(path, buf.getvalue())


def _read_stored(clip: DecodedClip, decoded_dir: Path) -> bytes:
    """The stored clip's bytes; a missing or unreadable file is decode's lost output: SystemFault."""
    path = decoded_dir / "clips" / f"{clip.key}.{VIDEO_EXT}"
    try:
        return path.read_bytes()
    except OSError as e:
        raise fault(STAGE, "cannot read the decoded clip", path, e) from None


def _estimate(clip: DecodedClip, data: bytes, dataset_root: Path) -> tuple[np.ndarray, np.ndarray]:
    from pose_extraction import FrameContext

    frames = decode_clip(data)  # (T, H, W, 3)
    context = FrameContext(clip_id=clip.clip_id, source=clip.source, dataset_root=dataset_root,
                           frame_indices=tuple(clip.frame_indices),
                           source_size=(clip.source_width, clip.source_height))
    return estimate_poses(_worker()["estimator"], frames, context)


def pose_clip_job(job: PoseJob) -> tuple[str, str | None]:
    """Estimate and store one clip's poses. Returns (key, reject reason or None)."""
    if "error" in _worker():
        raise StageError(f"poses: the pose estimator cannot be built: {_worker()['error']}")
    clip, out = DecodedClip.model_validate(job.clip), Path(job.out)
    data = _read_stored(clip, Path(job.decoded_dir))
    try:
        keypoints, bboxes = _estimate(clip, data, Path(_worker()["dataset_root"]))
    except Exception as e:  # one clip's failure is its reject row, never the end of the run
        if is_resource_error(e):  # ... unless the machine failed (no memory, no space, I/O error)
            raise fault(STAGE, "cannot estimate", clip.clip_id, e) from None
        reason = pose_failure(e)
        reject = RejectRecord(clip_id=clip.clip_id, stage=STAGE, reason=reason)
        with os_errors_are_faults(STAGE):
            write_atomic(out / "rejects" / f"{clip.key}.json", reject.model_dump_json())
        return clip.key, reason
    with os_errors_are_faults(STAGE):
        if not (out / "info.json").exists():
            estimator = _worker()["estimator"]
            info = {"backend": estimator.backend, "model": estimator.model, "num_joints": keypoints.shape[1]}
            write_atomic(out / "info.json", json.dumps(info, indent=1))
        save_npy(out / "clips" / f"{clip.key}.bbox.npy", bboxes)
        save_npy(out / "clips" / f"{clip.key}.pose.npy", keypoints)  # written last: clip done
    return clip.key, None


def _init_worker(poses: dict, dataset_root: str) -> None:
    _init_estimator(poses, dataset_root)
    _worker()["dataset_root"] = dataset_root


def _inputs(cfg: PipelineConfig) -> dict[str, str]:
    return {"decode": input_token("decode", paths.decode_dir(cfg), paths.decode_hash(cfg))}


def _done(out: Path, key: str) -> bool:
    return (out / "clips" / f"{key}.pose.npy").exists() or (out / "rejects" / f"{key}.json").exists()


@guarded(STAGE)
def start_poses(cfg: PipelineConfig, force: bool = False, verify: bool = False) -> tuple[StageResult | None, list[str]]:
    """Plan the stage: (the skipped result, []) when complete, else (None, keys still to estimate)."""
    out, config_hash, inputs = paths.poses_dir(cfg), paths.poses_hash(cfg), _inputs(cfg)
    marker = None if force else current_marker(out, config_hash, inputs, verify)
    if marker:
        return skipped(STAGE, out, marker), []
    prepare(out, force, inputs)
    warning = domain_warning(cfg.poses, cfg.dataset.name)
    if warning:
        log.warning("%s", warning)
    for sub in ("clips", "rejects"):
        probe_writable(STAGE, out / sub)
        for tmp in (out / sub).glob(".*.tmp"):
            tmp.unlink()
    clips = read_table(paths.decode_dir(cfg) / "decoded.parquet", DecodedClip)
    todo = [c.key for c in clips if not _done(out, c.key)]
    if len(todo) < len(clips):
        log.info("poses: resuming, %d of %d clips already done", len(clips) - len(todo), len(clips))
    return None, todo


def session_threads(cfg: PoseConfig, estimators: int) -> int:
    """onnxruntime intra-op threads of each pose session when `estimators` run at once on this machine.

    `poses.rtmlib.threads` when set; with 0 (auto) and several CPU estimators, the cores shared out
    among them (at least 1 each): onnxruntime's own default gives every session all the cores, so
    N estimators would run N x cores threads (measured: 2 workers on 2 cores, 165 s with 2 threads
    each vs 93 s with 1). Alone, or on CUDA, 0 keeps onnxruntime's default.
    """
    r = cfg.rtmlib
    if r.threads or cfg.backend != "rtmlib" or r.device != "cpu" or estimators <= 1:
        return r.threads
    return max(1, (os.cpu_count() or 1) // estimators)


@guarded(STAGE, lock=False)  # runs in the stage's own process or a task runner's worker
def estimate_batch(cfg: PipelineConfig, keys: list[str], workers: int = 1, concurrent: int = 1) -> dict[str, int]:
    """Estimate poses for these clip keys (after start_poses) with `workers` processes.

    concurrent: how many such calls run at the same time on this machine (threads of a Prefect
    task runner), so that the onnxruntime threads of all estimators fit the cores.
    """
    out, decoded_dir = paths.poses_dir(cfg), paths.decode_dir(cfg)
    clips = read_rows(decoded_dir / "decoded.parquet", DecodedClip, "key", keys)
    jobs = [PoseJob(c.model_dump(), str(decoded_dir), str(out)) for c in clips]
    poses = cfg.poses.model_dump()
    estimators = resolve_workers(workers, len(jobs)) * max(1, concurrent)
    poses["rtmlib"]["threads"] = session_threads(cfg.poses, estimators)
    if poses["rtmlib"]["threads"] != cfg.poses.rtmlib.threads:
        log.info("poses: %d estimators at once: %d onnxruntime threads each", estimators, poses["rtmlib"]["threads"])
    init_args = (poses, str(paths.dataset_root(cfg)))
    rejects = 0
    for _key, reason in run_jobs(pose_clip_job, jobs, workers, "poses", _init_worker, init_args):
        rejects += reason is not None
    return {"posed": len(jobs) - rejects, "rejects": rejects}


def _describe(cfg: PipelineConfig, out: Path) -> dict:
    """Backend, model and joint count as the estimator reported them (config names if no clip got poses)."""
    if (out / "info.json").exists():
        return json.loads((out / "info.json").read_text())
    model = cfg.poses.rtmlib.pose_model if cfg.poses.backend == "rtmlib" else "keypoints"
    return {"backend": cfg.poses.backend, "model": model, "num_joints": 0}


@guarded(STAGE)
def finish_poses(cfg: PipelineConfig, started: float | None = None) -> StageResult:
    """Collect every clip's outcome, write info.json + rejects.parquet and mark the stage complete."""
    started = time.perf_counter() if started is None else started
    out = paths.poses_dir(cfg)
    clips = read_table(paths.decode_dir(cfg) / "decoded.parquet", DecodedClip)
    missing = [c.key for c in clips if not _done(out, c.key)]
    if missing:
        raise StageError(f"poses: {len(missing)} clips have no poses yet (e.g. {missing[0]}): run estimate_batch")
    rejects = [RejectRecord.model_validate_json((out / "rejects" / f"{c.key}.json").read_text())
               for c in clips if (out / "rejects" / f"{c.key}.json").exists()]
    write_atomic(out / "info.json", json.dumps(_describe(cfg, out), indent=1))
    write_table(out / "rejects.parquet", RejectRecord, rejects)
    counts = {"clips": len(clips), "posed": len(clips) - len(rejects), "rejects": len(rejects)}
    outputs = describe_outputs(out, ["info.json", "rejects.parquet"], ("clips/*", "rejects/*"))
    return finish(STAGE, out, cfg, paths.poses_hash(cfg), _inputs(cfg), counts, started, outputs)


@guarded(STAGE)
def run_poses(cfg: PipelineConfig, force: bool = False, verify: bool = False) -> StageResult:
    """Estimate the main person's poses for every decoded clip (idempotent, resumable, workers)."""
    started = time.perf_counter()
    result, keys = start_poses(cfg, force, verify)
    if result is not None:
        return result
    estimate_batch(cfg, keys, cfg.poses.workers)
    return finish_poses(cfg, started)


def pose_info(cfg: PipelineConfig) -> dict:
    """info.json of a complete poses output (backend, model, num_joints)."""
    out = paths.poses_dir(cfg)
    if not read_marker(out):
        raise StageError(f"stage 'poses' has no complete output in {out}: run it first")
    return json.loads((out / "info.json").read_text())
