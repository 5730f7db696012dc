"""Residual multi-head attention with a logit bias and a key mask: the layer of P2V-R and V2P-R.

Runs through `torch.nn.functional.scaled_dot_product_attention`, so GPUs use the fused
memory-efficient kernel (a float mask rules out the flash kernel; the mask is small).
"""

import torch
from torch import nn
from torch.nn import functional as F


class ResidualAttention(nn.Module):
    """`q + out(attn(LN(q), LN(kv)))` with a zero-initialised output: starts as the identity.

    Queries may attend only to the keys `allowed` marks; a query with no allowed key gets a zero
    update (never NaN), which is how V2P-R handles an empty group.

    Args:
        width: D.
        heads: number of attention heads (D must be divisible by it).
    """

    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"attention width {width} is not divisible by {heads} heads")
        self.heads = heads
        self.norm_q = nn.LayerNorm(width)
        self.norm_kv = nn.LayerNorm(width)
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, width, bias=False)  # no bias: an empty group's update is exactly 0
        nn.init.zeros_(self.out.weight)

    def forward(
        self,
        q: torch.Tensor,
        kv: torch.Tensor,
        bias: torch.Tensor | None = None,
        allowed: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attend and add the result to the queries.

        Args:
            q: (n, Lq, D) query tokens.
            kv: (n, Lk, D) key/value tokens.
            bias: (n, Lq or 1, Lk) additive logit bias, or None.
            allowed: (n, Lq, Lk) bool, or None for all keys.
        Returns:
            (n, Lq, D).
        """
        n, lq, d = q.shape
        h = self.heads
        query = self.q(self.norm_q(q)).view(n, lq, h, d // h).transpose(1, 2)  # (n, h, Lq, d/h)
        key, value = self.kv(self.norm_kv(kv)).view(n, -1, 2, h, d // h).permute(2, 0, 3, 1, 4)
        mask, has_key = attention_mask(bias, allowed, query.dtype)
        mixed = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)  # (n, h, Lq, d/h)
        if has_key is not None:
            mixed = mixed * has_key.to(mixed.dtype)  # rows without keys -> all zero
        mixed = mixed.transpose(1, 2).reshape(n, lq, d)
        return q + self.out(mixed)


def attention_mask(
    bias: torch.Tensor | None, allowed: torch.Tensor | None, dtype: torch.dtype
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """One float mask for `scaled_dot_product_attention` from a logit bias and an allowed-key mask.

    Disallowed keys get -inf. A query row with no allowed key would be all -inf (NaN in the softmax),
    so its mask row is left at 0 and the caller zeroes that row's output with `has_key`.

    Args:
        bias: (n, Lq or 1, Lk) additive logit bias, or None.
        allowed: (n, Lq, Lk) bool, or None.
        dtype: the query dtype (the mask must match it).
    Returns:
        mask (n, 1, Lq or 1, Lk) or None, and has_key (n, 1, Lq, 1) bool or None.
    """
    if allowed is None:
        return (None if bias is None else bias.unsqueeze(1).to(dtype)), None
    has_key = allowed.any(-1, keepdim=True)  # (n, Lq, 1)
    zero = torch.zeros((), dtype=dtype, device=allowed.device)
    base = zero if bias is None else bias.to(dtype)
    mask = torch.where(allowed, base, torch.tensor(float("-inf"), dtype=dtype, device=allowed.device))
    mask = torch.where(has_key, mask, zero)
    return mask.unsqueeze(1), has_key.unsqueeze(1)
