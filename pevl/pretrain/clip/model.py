"""The tiny CLIP's architecture configs and its shipped weights file (an fp32 open_clip state dict).

fp32, not fp16: open_clip resizes the position embedding of a checkpoint loaded at another image
size (48 px for demo-grid) with a bicubic interpolation that has no fp16 CPU kernel, so an fp16
file fails there. pevl-tiny in fp32 is 13.6 MB, within the 15 MB a shipped model may take.
"""

import hashlib
import logging
from pathlib import Path

import torch

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parents[2] / "assets"
SHIPPED = ASSETS / "models" / "clip" / "synthclip-tiny.pt"


def register_configs() -> None:
    """Register every packaged tiny open_clip config `pevl/assets/pevl-tiny*.json` (idempotent)."""
    import open_clip

    for path in sorted(ASSETS.glob("pevl-tiny*.json")):
        if path.stem not in open_clip.list_models():
            open_clip.add_model_config(path)


def load_trainer_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The model state dict of an open_clip_train checkpoint (`module.` prefixes removed)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    state = ckpt.get("state_dict", ckpt)
    return {k.removeprefix("module."): v for k, v in state.items()}


def save_weights(state: dict[str, torch.Tensor], path: Path, half: bool = False) -> str:
    """Write a plain state dict (fp16 floats when `half`) that `torch.load(weights_only=True)` reads; returns sha256."""
    out = {k: (v.half() if half and v.is_floating_point() else v).contiguous() for k, v in state.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(out, tmp)
    tmp.replace(path)
    return file_sha256(path)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
