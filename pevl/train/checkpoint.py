"""Checkpoints: resolved config, model, optimizer, scheduler, step, RNG states; atomic writes.

Model state: with `model.pretrained` set, only trainable parameters and buffers are stored — the
frozen backbone is rebuilt from the same pretrained weights by `build_model`. With
`pretrained: null` (random backbone, the tiny demo) the full state dict is stored, so a
checkpoint never depends on re-drawing a random initialisation.
"""

import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def model_state(model: Any, full: bool) -> dict[str, Any]:
    """The state dict to save: everything, or trainable parameters + buffers."""
    state = model.state_dict()
    if full:
        return state
    keep = {n for n, p in model.named_parameters() if p.requires_grad}
    keep |= {n for n, _ in model.named_buffers()}
    return {k: v for k, v in state.items() if k in keep}


def load_model_state(model: Any, state: dict[str, Any]) -> None:
    """Load a saved state; keys it lacks must be frozen parameters (rebuilt from config)."""
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise ValueError(f"checkpoint has keys the model lacks: {result.unexpected_keys[:5]}")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    missing = [k for k in result.missing_keys if k in trainable]
    if missing:
        raise ValueError(f"checkpoint lacks trainable parameters: {missing[:5]}")


def rng_state() -> dict[str, Any]:
    """Torch (CPU + CUDA), NumPy and Python RNG states as tensors/lists (weights_only-safe)."""
    import torch

    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, pystate, pygauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": version, "state": list(pystate), "gauss": pygauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` returned."""
    import torch

    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


def save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    """Write payload with torch.save to a temporary file, then rename: a kill never leaves half a file."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save({"format_version": FORMAT_VERSION, **payload}, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint safely (weights_only); errors name the file."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if ckpt.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported checkpoint format {ckpt.get('format_version')!r}")
    return ckpt


def config_of(ckpt: dict[str, Any]) -> Any:
    """The resolved PipelineConfig stored in a checkpoint."""
    from schemas import PipelineConfig

    return PipelineConfig.model_validate(ckpt["config"])
