"""Shared pieces of the temporal towers (`temporal_aim.py`, `st_adapter.py`, METHOD.md section 2b).

A temporal tower replaces the plain loop over the frozen image blocks for one encoder (video, or
the pose path through the same blocks): it gets the tokens of all frames of a clip, runs every
frozen block with its own trainable parts and lets tokens of the same position (patch, or joint)
interact across frames. `kind: none` has no tower: frames run through the blocks one by one.
"""

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint


def frozen_attention(attn: nn.MultiheadAttention, x: torch.Tensor) -> torch.Tensor:
    """Self-attention with the weights of a frozen `nn.MultiheadAttention`, through SDPA.

    Equal to `attn(x, x, x, need_weights=False)[0]` (CLIP's blocks have no dropout); written out so
    that the same weights can attend along another axis (frames) and reach the flash /
    memory-efficient kernels on GPUs.

    Args:
        attn: batch-first attention with a packed input projection (open_clip's blocks).
        x: (n, L, D).
    Returns:
        (n, L, D).
    """
    if attn.in_proj_weight is None:
        raise ValueError("frozen_attention needs a packed in_proj_weight (q, k, v of one width)")
    q, k, v = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)  # (n, L, D) each
    heads = attn.num_heads
    q, k, v = (t.unflatten(-1, (heads, -1)).transpose(1, 2) for t in (q, k, v))  # (n, h, L, D/h)
    out = F.scaled_dot_product_attention(q, k, v)  # (n, h, L, D/h)
    return attn.out_proj(out.transpose(1, 2).flatten(2))  # (n, L, D)


def across_frames(x: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Regroup tokens so that each sequence is one token position over the frames of a clip.

    Args:
        x: (B*T, L, D).
    Returns:
        (B*L, T, D).
    """
    n, length, d = x.shape
    return x.view(n // num_frames, num_frames, length, d).transpose(1, 2).reshape(-1, num_frames, d)


def within_frames(x: torch.Tensor, num_tokens: int) -> torch.Tensor:
    """Inverse of `across_frames`.

    Args:
        x: (B*L, T, D).
    Returns:
        (B*T, L, D).
    """
    n, t, d = x.shape
    return x.view(n // num_tokens, num_tokens, t, d).transpose(1, 2).reshape(-1, num_tokens, d)


def plain_call(fn: Callable[..., torch.Tensor], *args) -> torch.Tensor:
    """Call a block step as it is."""
    return fn(*args)


def checkpointed_call(fn: Callable[..., torch.Tensor], *args) -> torch.Tensor:
    """Call a block step under activation checkpointing (recomputed in backward; saves memory)."""
    return checkpoint(fn, *args, use_reentrant=False)


def block_caller(use_checkpoint: bool) -> Callable[..., torch.Tensor]:
    """How a tower calls its per-block step: plainly, or with gradient checkpointing."""
    return checkpointed_call if use_checkpoint else plain_call


def check_frames(x: torch.Tensor, num_frames: int) -> None:
    """Raise unless the flattened batch `x` (B*T, L, D) holds whole clips of `num_frames`."""
    if x.shape[0] % num_frames:
        raise ValueError(f"{x.shape[0]} frames do not form clips of the {num_frames} the temporal tower was built for")
