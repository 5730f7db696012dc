"""What a model logged to MLflow carries beside its checkpoint: the pose models' files, or their names and digests.

`pose_models/pose_models.json` lists the models the checkpoint's pose config names, e.g.

    {"backend": "rtmlib", "models": [{"role": "det_model", "spec": "builtin:pose/synthdive_det.onnx",
      "name": "synthdive_det", "sha256": "...", "file": "det_model/synthdive_det.onnx"}, ...]}

A local file (a shipped `builtin:` model, a path, BlazePose's files in the model cache) is copied
beside it (`file`); an rtmlib hub URL is recorded by name and, when rtmlib's cache holds it,
sha256 (`file` null): the serving machine fetches it as training did. The ground-truth backend
has none. `bundled_poses` gives the pose config that runs the copies, their digests checked, so a
served model needs no file of the training machine.
"""

import json
import logging
import shutil
from pathlib import Path

from pevl.storage.integrity import file_sha256
from pevl.storage.outputs import StageError
from pose_extraction.models import (
    ModelNotFoundError,
    cached_onnx_name,
    is_url,
    model_name,
    resolve_model,
    rtmlib_cache_dir,
)
from pose_extraction.registry_files import BLAZEPOSE, models_folder, verified_folder
from schemas import PoseConfig

log = logging.getLogger("pevl.predict")
POSE_MODELS_JSON = "pose_models.json"
RTMLIB_ROLES = ("det_model", "pose_model")


class ModelError(StageError):
    """The model cannot be loaded (missing file, not a checkpoint, no class texts, a URI that does not
    resolve); the message names it."""


def _rtmlib_entry(role: str, spec: str) -> tuple[dict, Path | None]:
    """(the record of one rtmlib model, its local file or None for a hub URL)."""
    if is_url(spec):
        cached = rtmlib_cache_dir() / cached_onnx_name(spec)
        digest = file_sha256(cached) if cached.is_file() else None
        return {"role": role, "spec": spec, "name": model_name(spec), "sha256": digest, "file": None}, None
    path = resolve_model(spec, download=False)
    return {"role": role, "spec": spec, "name": path.stem, "sha256": file_sha256(path),
            "file": f"{role}/{path.name}"}, path


def _blazepose_entries(poses: PoseConfig) -> list[tuple[dict, Path | None]]:
    """BlazePose's two files from model_dir or the model cache; names and pinned digests only when absent."""
    folder = Path(poses.blazepose.model_dir) if poses.blazepose.model_dir else models_folder(BLAZEPOSE)
    try:
        folder = verified_folder(BLAZEPOSE, folder)
    except ModelNotFoundError:
        folder = None
    out = []
    for name, digest in zip(BLAZEPOSE.file_names(), BLAZEPOSE.files.values()):
        entry = {"role": "blazepose", "spec": BLAZEPOSE.requirement, "name": Path(name).stem, "sha256": digest,
                 "file": f"blazepose/{name}" if folder else None}
        out.append((entry, folder / name if folder else None))
    return out


def write_pose_models(poses: PoseConfig, folder: Path) -> Path:
    """Copy the local pose model files of `poses` into `folder` and write pose_models.json there; returns folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if poses.backend == "rtmlib":
        entries = [_rtmlib_entry(role, getattr(poses.rtmlib, role)) for role in RTMLIB_ROLES]
    elif poses.backend == "blazepose":
        entries = _blazepose_entries(poses)
    else:
        entries = []
    for entry, source in entries:
        if source is not None:
            (folder / entry["file"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, folder / entry["file"])
    record = {"backend": poses.backend, "models": [entry for entry, _ in entries]}
    (folder / POSE_MODELS_JSON).write_text(json.dumps(record, indent=1))
    return folder


def read_pose_models(folder: Path) -> dict:
    """pose_models.json of a logged model's pose_models folder; ModelError when it is missing or not JSON."""
    path = Path(folder) / POSE_MODELS_JSON
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"predict: {path} cannot be read ({type(e).__name__}: {e})") from None


def _checked_file(folder: Path, entry: dict) -> Path:
    path = folder / entry["file"]
    if not path.is_file():
        raise ModelError(f"predict: the model's pose model file {path} is missing")
    if file_sha256(path) != entry["sha256"]:
        raise ModelError(f"predict: {path} is not the pose model the model was logged with (sha256 differs)")
    return path


def _warn_if_hub_model_differs(entry: dict) -> None:
    cached = rtmlib_cache_dir() / cached_onnx_name(entry["spec"])
    digest = file_sha256(cached) if entry["sha256"] and cached.is_file() else entry["sha256"]
    if digest != entry["sha256"]:
        log.warning("predict: %s in rtmlib's cache is not the file the model was trained with (sha256 %s, "
                    "logged %s): poses may differ from training", cached, digest[:12], entry["sha256"][:12])


def bundled_poses(poses: PoseConfig, folder: Path) -> PoseConfig:
    """`poses` running the model's own copies of its pose model files (digests checked); hub URLs as they are."""
    folder = Path(folder)
    record = read_pose_models(folder)
    if record.get("backend") != poses.backend:
        raise ModelError(f"predict: {folder / POSE_MODELS_JSON} lists {record.get('backend')!r} pose models, "
                         f"the checkpoint's config poses.backend={poses.backend}")
    entries = record.get("models", [])
    if poses.backend == "rtmlib":
        update = {}
        for entry in entries:
            if entry["file"]:
                update[entry["role"]] = str(_checked_file(folder, entry))
            else:
                _warn_if_hub_model_differs(entry)
        return poses.model_copy(update={"rtmlib": poses.rtmlib.model_copy(update=update)})
    if poses.backend == "blazepose" and entries and all(e["file"] for e in entries):
        files = [_checked_file(folder, e) for e in entries]
        blazepose = poses.blazepose.model_copy(update={"model_dir": str(files[0].parent), "download": False})
        return poses.model_copy(update={"blazepose": blazepose})
    return poses
