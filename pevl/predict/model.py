"""The model `pevl predict` applies: a trained checkpoint with its resolved config and class texts.

`load_model` is the one door: it takes a checkpoint path today; a model URI (an MLflow run or a
registered model) is another branch of it. A checkpoint holds the resolved config and, since
training writes them into every checkpoint, the class texts; a checkpoint without them takes the
classes.json of its run folder, then the one of the shards or index its config names.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pevl import paths
from pevl.eval.evaluate import load_model_from_checkpoint
from pevl.storage.integrity import file_sha256
from pevl.storage.outputs import StageError
from pevl.train.checkpoint import config_of, load_checkpoint
from pevl.train.distributed import pick_device
from pevl.train.loop import load_classes
from pevl.train.optim import resolve_amp
from schemas import PipelineConfig

log = logging.getLogger(__name__)
URI_SCHEMES = ("runs:/", "models:/")


class ModelError(StageError):
    """The model cannot be loaded (missing file, not a checkpoint, no class texts); names the file."""


@dataclass
class LoadedModel:
    """A model ready to predict, and what it was trained with.

    Attributes:
        model: the PeVL model in eval mode on `device`.
        cfg: the resolved config stored in the checkpoint.
        classes: class texts (dicts with label, name, text, phrases, attributes) by label.
        path: the checkpoint as given; sha256: its content digest.
        device: torch device; dtype: autocast dtype (None: full precision), as evaluation uses.
    """

    model: Any
    cfg: PipelineConfig
    classes: list[dict]
    path: str
    sha256: str
    device: Any
    dtype: Any


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


def load_model(ref: str | Path, device: str | None = None) -> LoadedModel:
    """The model a checkpoint path names, on `device` (auto | cpu | cuda; default auto).

    Raises ModelError naming the file when it is missing, is not a checkpoint or cannot build its model.
    """
    if str(ref).startswith(URI_SCHEMES):
        raise ModelError(f"predict: model URIs ({', '.join(URI_SCHEMES)}) are not supported yet: "
                         "give a checkpoint file")
    path = Path(ref).expanduser()
    ckpt, cfg = _read_checkpoint(path)
    classes = find_classes(ckpt, path, cfg)
    try:
        torch_device = pick_device(device or "auto")
    except RuntimeError:
        raise StageError(f"predict: device {device} asked, but no CUDA device is visible") from None
    try:
        model = load_model_from_checkpoint({**ckpt, "classes": classes}, torch_device)
    except Exception as e:  # weights that do not fit the config, missing pretrained weights
        raise ModelError(f"predict: cannot build the model of {path} ({_first_line(e)})") from None
    return LoadedModel(model, cfg, classes, str(ref), file_sha256(path), torch_device,
                       resolve_amp(cfg.train.amp, torch_device))
