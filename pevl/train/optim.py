"""AdamW with parameter groups, cosine schedule with linear warm-up, and mixed precision."""

import contextlib
import math
from typing import Any

from schemas import TrainConfig


def param_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    """Trainable parameters in two groups: decayed matrices, and undecayed norms/biases/scales.

    Any parameter with fewer than 2 dims (LayerNorm weights and biases, every bias, the logit
    scale, learnable scalars like P2V's beta) gets no weight decay, as in CLIP and open_clip.
    """
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim < 2 or name.endswith("logit_scale"):
            no_decay.append(p)
        else:
            decay.append(p)
    return [
        {"params": decay, "weight_decay": weight_decay, "name": "decay"},
        {"params": no_decay, "weight_decay": 0.0, "name": "no_decay"},
    ]


def build_optimizer(model: Any, cfg: TrainConfig) -> Any:
    """AdamW over the model's trainable parameters (see `param_groups`)."""
    import torch

    groups = param_groups(model, cfg.weight_decay)
    if not any(g["params"] for g in groups):
        raise ValueError("the model has no trainable parameters")
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


def lr_factor(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Multiplier of the peak lr at optimizer step `step`: linear warm-up, then cosine to min_ratio."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: Any, cfg: TrainConfig, steps_per_epoch: int) -> Any:
    """LambdaLR stepped once per optimizer step; warm-up and total lengths come from epochs."""
    import torch

    updates = math.ceil(steps_per_epoch / cfg.grad_accum)
    total = updates * cfg.epochs
    warmup = min(total, int(round(cfg.warmup_epochs * updates)))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total, warmup, cfg.min_lr_ratio)
    )


def resolve_amp(amp: str, device: Any) -> Any:
    """The autocast dtype for a config value on a device (None = full precision).

    auto: bf16 on CUDA, none on CPU (CPU autocast is slower than fp32 for these models).
    """
    import torch

    if amp == "none" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "fp16":
        return torch.float16
    return torch.bfloat16


def autocast(device: Any, dtype: Any) -> Any:
    """An autocast context for dtype, or a no-op when dtype is None."""
    import torch

    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
