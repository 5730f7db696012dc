"""AdamW with parameter groups, cosine schedule with linear warm-up, mixed precision, logit-scale cap."""

import contextlib
import logging
import math
from typing import Any

from schemas import TrainConfig

log = logging.getLogger(__name__)


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


def clamp_logit_scale(model: Any) -> None:
    """Cap a PeVL model's learnable log logit scale at log(100); call after each optimizer step.

    open_clip's way: a clamp inside forward would pass no gradient at the cap, where OpenAI's
    weights start, so the temperature could never learn. Models without one are left alone.
    """
    clamp = getattr(getattr(model, "module", model), "clamp_logit_scale", None)
    if clamp is not None:
        clamp()


def cast_frozen_weights(model: Any, dtype: Any) -> int:
    """Cast the frozen weights autocast would cast on every step (Linear, Conv, attention in/out
    projections) to `dtype` once, in place; trainable parameters stay float32. Returns the count.

    Only modules whose parameters are all frozen are touched, so a layer with a trainable part is
    never half-cast; LayerNorms, embeddings and bare projection matrices keep their dtype (autocast
    runs those in float32 or they are cheap).
    """
    from torch import nn

    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.MultiheadAttention)
    count = 0
    for module in model.modules():
        if not isinstance(module, kinds):
            continue
        params = list(module.parameters(recurse=False))
        if not params or any(p.requires_grad for p in params):
            continue
        for p in params:
            if p.is_floating_point() and p.dtype != dtype:
                p.data = p.data.to(dtype)
                count += 1
    log.info("cast %d frozen weight tensors to %s once (autocast no longer casts them each step)", count, dtype)
    return count
