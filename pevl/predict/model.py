"""The model `pevl predict` applies: a trained checkpoint with its resolved config and class texts.

`load_model` is the one door: it takes a checkpoint path, or a model URI (a training run's model,
`runs:/ID`, or a registered one, `models:/NAME/VERSION`, `models:/NAME@ALIAS`) whose files it
downloads from MLflow; either way the checkpoint is read here. A checkpoint holds the resolved
config and, since training writes them into every checkpoint, the class texts; a checkpoint
without them takes the classes.json of its run folder, then the one of the shards or index its
config names. A logged model also carries its pose model files, which `load_model_files` runs
instead of the paths of the training machine (pevl/predict/bundle.py).
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pevl import paths
from pevl.eval.evaluate import load_model_from_checkpoint
from pevl.predict.bundle import ModelError, bundled_poses
from pevl.predict.uris import download_model, is_model_uri
from pevl.storage.integrity import file_sha256
from pevl.storage.outputs import StageError
from pevl.train.checkpoint import config_of, load_checkpoint
from pevl.train.distributed import pick_device
from pevl.train.loop import load_classes
from pevl.train.optim import resolve_amp
from schemas import PipelineConfig, PoseConfig

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A model ready to predict, and what it was trained with.

    Attributes:
        model: the PeVL model in eval mode on `device`.
        cfg: the resolved config stored in the checkpoint.
        classes: class texts (dicts with label, name, text, phrases, attributes) by label.
        path: the checkpoint or model URI as given; sha256: the checkpoint's content digest.
        device: torch device; dtype: autocast dtype (None: full precision), as evaluation uses.
        poses: the pose config to run: the checkpoint's, or a logged model's pointing at its own files.
        files: what keeps a downloaded model's folder alive (None for a checkpoint path).
    """

    model: Any
    cfg: PipelineConfig
    classes: list[dict]
    path: str
    sha256: str
    device: Any
    dtype: Any
    poses: PoseConfig | None = None
    files: Any = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def _read_checkpoint(path: Path) -> tuple[dict, PipelineConfig]:
    """The checkpoint dict and its config (torch.load with weights_only=True); ModelError otherwise."""
    if not path.is_file():
        raise ModelError(f"predict: checkpoint not found: {path}")
    try:
        ckpt = load_checkpoint(path)
        cfg = config_of(ckpt)
        ckpt["model"]  # noqa: B018 - a checkpoint without weights is not one
    except Exception as e:  # torch's unpickling errors, a foreign dict, an invalid config
        raise ModelError(f"predict: {path} is not a pevl checkpoint ({_first_line(e)})") from None
    return ckpt, cfg


def find_classes(ckpt: dict, path: Path, cfg: PipelineConfig) -> list[dict]:
    """The checkpoint's class texts, else classes.json beside it, in the shards or in the index."""
    if ckpt.get("classes"):
        return list(ckpt["classes"])
    candidates = [path.parent / "classes.json", paths.shards_dir(cfg) / "classes.json",
                  paths.index_dir(cfg) / "classes.json"]
    for candidate in candidates:
        if candidate.is_file():
            log.info("predict: %s holds no class texts: using %s", path, candidate)
            return load_classes(candidate)
    raise ModelError(f"predict: {path} holds no class texts and there is no classes.json in "
                     f"{', '.join(str(c.parent) for c in candidates)}")


def load_model(ref: str | Path, device: str | None = None, tracking_uri: str | None = None) -> LoadedModel:
    """The model a checkpoint path or a model URI names, on `device` (auto | cpu | cuda; default auto).

    Args:
        tracking_uri: the MLflow server of a URI (default $MLFLOW_TRACKING_URI, then <work_dir>/mlflow.db).
    Raises ModelError naming the file or URI when it is missing, is not a pevl model or cannot build its model.
    """
    if is_model_uri(ref):
        files = download_model(str(ref), tracking_uri)
        return load_model_files(files.checkpoint, files.pose_models, device, str(ref), files)
    return _load(Path(ref).expanduser(), device, str(ref))


def load_model_files(checkpoint: Path, pose_models: Path, device: str | None = None, ref: str | None = None,
                     files: Any = None) -> LoadedModel:
    """A logged model from its files: the checkpoint, run with the pose model files beside it.

    `ref` names the model in rows and messages (default: the checkpoint path); `files` is kept
    alive with the model (a downloaded model's temporary folder).
    """
    loaded = _load(Path(checkpoint), device, ref or str(checkpoint))
    loaded.poses, loaded.files = bundled_poses(loaded.cfg.poses, Path(pose_models)), files
    return loaded


def _load(path: Path, device: str | None, ref: str) -> LoadedModel:
    ckpt, cfg = _read_checkpoint(path)
    classes = find_classes(ckpt, path, cfg)
    try:
        torch_device = pick_device(device or "auto")
    except RuntimeError:
        raise StageError(f"predict: device {device} asked, but no CUDA device is visible") from None
    try:
        model = load_model_from_checkpoint({**ckpt, "classes": classes}, torch_device)
    except Exception as e:  # weights that do not fit the config, missing pretrained weights
        raise ModelError(f"predict: cannot build the model of {ref} ({_first_line(e)})") from None
    return LoadedModel(model, cfg, classes, ref, file_sha256(path), torch_device,
                       resolve_amp(cfg.train.amp, torch_device), cfg.poses)
