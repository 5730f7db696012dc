"""Build the shipped pose models end to end: render, train, export to ONNX, measure, record.

`build_pose_models` is what `pevl pretrain poses` and the `pretrain-poses` Prefect flow run. It
writes into `out`: the two .onnx files and `training.json` (the settings, seeds, a hash of the
training data, the files' hashes, losses, CPU and wall seconds, and the evaluation of
`report.measure`, which runs the files through the pose stage on a fresh rendering).
"""

import hashlib
import json
import logging
import os
import platform
import time
from pathlib import Path

import numpy as np

from schemas.pretrain import PoseTrainSettings

log = logging.getLogger(__name__)


def data_hash(*arrays: np.ndarray) -> str:
    """SHA-256 over arrays' shapes, dtypes and bytes: the training data's fingerprint."""
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(f"{a.shape}{a.dtype}".encode())
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


def _train(settings: PoseTrainSettings, out: Path) -> dict:
    """Render, train and export both models; returns the training record."""
    from pevl.pretrain.poses.data import render_clips
    from pevl.pretrain.poses.export import DET_FILE, POSE_FILE, export_detector, export_keypoints
    from pevl.pretrain.poses.intruder import with_intruders
    from pevl.pretrain.poses.samples import detector_set, keypoint_set
    from pevl.pretrain.poses.train import train_detector, train_keypoints

    clips = render_clips(settings.train_seed, settings.train_clips, desc="render train")
    clips, others = with_intruders(clips, settings.train_seed)  # a second person in a third of the clips
    det_data = detector_set(clips, settings.det_input_size, others)
    pose_data = keypoint_set(clips, settings.pose_input_size, settings.crops_per_frame, settings.seed)
    del clips
    record = {"data": {"detector_images": len(det_data.images), "keypoint_crops": len(pose_data.crops),
                       "sha256": data_hash(det_data.images, det_data.boxes, pose_data.crops, pose_data.joints,
                                           pose_data.visible)}}
    det, det_losses = train_detector(det_data, settings.det_steps, settings.batch_size, settings.lr, settings.seed)
    del det_data
    export_detector(det, settings.det_input_size, out / DET_FILE)
    pose, pose_losses = train_keypoints(pose_data, settings.pose_steps, settings.batch_size, settings.lr, settings.seed)
    export_keypoints(pose, settings.pose_input_size, out / POSE_FILE)
    record["loss"] = {"detector_first_last_100": [float(np.mean(det_losses[:100])), float(np.mean(det_losses[-100:]))],
                      "keypoints_first_last_100": [float(np.mean(pose_losses[:100])), float(np.mean(pose_losses[-100:]))]}
    return record


def build_pose_models(out: Path, settings: PoseTrainSettings, evaluate: bool = True) -> dict:
    """Train, export and (optionally) measure the two models into `out`; returns the record written to training.json."""
    import torch

    from pevl.pretrain.poses.export import DET_FILE, POSE_FILE, sha256

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(settings.threads)
    wall, cpu = time.perf_counter(), time.process_time()
    record = {"settings": settings.model_dump(), **_train(settings, out)}
    record["train_seconds"] = {"wall": round(time.perf_counter() - wall, 1), "cpu": round(time.process_time() - cpu, 1),
                               "cores": len(os.sched_getaffinity(0)), "load_average": list(os.getloadavg())}
    record["files"] = {name: {"sha256": sha256(out / name), "bytes": (out / name).stat().st_size}
                       for name in (DET_FILE, POSE_FILE)}
    record["versions"] = {"torch": torch.__version__, "python": platform.python_version()}
    if evaluate:
        from pevl.pretrain.poses.report import measure

        record["evaluation"] = measure(out / DET_FILE, out / POSE_FILE, settings)
    (out / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    log.info("pose models written to %s", out)
    return record


def remeasure(out: Path, eval_seed: int, eval_clips: int) -> dict:
    """Measure the models already in `out` again (another evaluation seed or size) and update training.json."""
    from pevl.pretrain.poses.export import DET_FILE, POSE_FILE
    from pevl.pretrain.poses.report import measure

    out = Path(out)
    record = json.loads((out / "training.json").read_text())
    known = {k: tuple(v) if isinstance(v, list) else v for k, v in record["settings"].items()}
    settings = PoseTrainSettings(**known).model_copy(update={"eval_seed": eval_seed, "eval_clips": eval_clips})
    record["evaluation"] = measure(out / DET_FILE, out / POSE_FILE, settings)
    (out / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    return record
