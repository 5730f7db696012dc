"""Residual multi-head attention with a logit bias and a key mask: the layer of P2V-R and V2P-R."""

import torch
from torch import nn


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
        logits = query @ key.transpose(-1, -2) * (d // h) ** -0.5  # (n, h, Lq, Lk)
        if bias is not None:
            logits = logits + bias.unsqueeze(1).to(logits.dtype)
        if allowed is not None:
            mask = allowed.unsqueeze(1)
            logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
            attn = logits.softmax(-1) * mask.to(logits.dtype)  # rows without keys -> all zero
        else:
            attn = logits.softmax(-1)
        mixed = (attn @ value).transpose(1, 2).reshape(n, lq, d)
        return q + self.out(mixed)
