"""Bottleneck adapters: the trainable part of each frozen CLIP encoder (METHOD.md section 2)."""

from typing import Literal

import torch
from torch import nn


def _add_bottleneck(module: nn.Module, width: int, bottleneck: int) -> None:
    """Give `module` the layers `down` (D -> bottleneck), `act` and a zero-initialised `up`."""
    module.down = nn.Linear(width, bottleneck)
    module.act = nn.GELU()
    module.up = nn.Linear(bottleneck, width)
    nn.init.zeros_(module.up.weight)
    nn.init.zeros_(module.up.bias)


class Adapter(nn.Module):
    """`x + up(act(down(x)))` with `up` zero-initialised, so training starts from CLIP's features.

    Args:
        width: feature width D of the encoder.
        bottleneck: hidden width of the adapter.
    """

    def __init__(self, width: int, bottleneck: int):
        super().__init__()
        _add_bottleneck(self, width, bottleneck)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Adapt features.

        Args:
            x: (..., D).
        Returns:
            (..., D).
        """
        return x + self.up(self.act(self.down(x)))


class Bottleneck(nn.Module):
    """`up(act(down(x)))` without the skip, `up` zero-initialised: a branch that starts at zero.

    The temporal adapters (AIM's T- and joint adapters) add this to a residual stream themselves.

    Args:
        width: feature width D.
        bottleneck: hidden width.
    """

    def __init__(self, width: int, bottleneck: int):
        super().__init__()
        _add_bottleneck(self, width, bottleneck)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Branch output.

        Args:
            x: (..., D).
        Returns:
            (..., D), zero at initialisation.
        """
        return self.up(self.act(self.down(x)))


def bottleneck_width(width: int, ratio: float) -> int:
    """Hidden width of an adapter of bottleneck `ratio` on features of `width` (at least 1)."""
    return max(1, round(width * ratio))


class AdapterStack(nn.Module):
    """The adapters of one encoder: one after its output, or one after each of its last M blocks.

    `placement="inside"` is the earlier AIM-like variant (serial adapters inside the frozen
    transformer); the paper's notes only say "an adapter follows each encoder", which is `"after"`.
    The temporal towers (`temporal_aim.py`, `st_adapter.py`, `model.temporal.kind`) are the full
    in-block adaptation of the image tower; they run beside this stack: its output adapter after
    them, or with "inside" its serial adapters after their last M blocks.

    Args:
        width: encoder width D.
        bottleneck: adapter hidden width.
        num_blocks: number of transformer blocks of the encoder.
        placement: "after" or "inside".
        inside_blocks: M, the number of adapted last blocks (placement="inside").
    """

    def __init__(
        self,
        width: int,
        bottleneck: int,
        num_blocks: int,
        placement: Literal["after", "inside"] = "after",
        inside_blocks: int = 4,
    ):
        super().__init__()
        self.num_blocks = num_blocks
        if placement == "after":
            self.output = Adapter(width, bottleneck)
            self.blocks = None
        else:
            first = max(0, num_blocks - inside_blocks)
            self.output = None
            self.blocks = nn.ModuleDict({str(i): Adapter(width, bottleneck) for i in range(first, num_blocks)})

    @property
    def first_block(self) -> int:
        """Index of the first block whose output is adapted (num_blocks when only the output is)."""
        if self.blocks is None:
            return self.num_blocks
        return min(int(k) for k in self.blocks)

    def after_block(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Adapt the output of block `index` (identity for blocks without an adapter).

        Args:
            x: (n, L, D).
        """
        if self.blocks is not None and str(index) in self.blocks:
            return self.blocks[str(index)](x)
        return x

    def after_output(self, x: torch.Tensor) -> torch.Tensor:
        """Adapt the encoder's final output (identity with placement="inside").

        Args:
            x: (n, L, D).
        """
        return self.output(x) if self.output is not None else x


def run_blocks(
    blocks: nn.ModuleList,
    x: torch.Tensor,
    adapters: AdapterStack | None,
    attn_mask: torch.Tensor | None = None,
    start: int = 0,
) -> torch.Tensor:
    """Run frozen transformer blocks `start..` with the adapters inside them, if any.

    Blocks before the first trainable input record no autograd graph by themselves (frozen weights
    and an input without grad), so no explicit `no_grad` is needed for speed.

    Args:
        blocks: open_clip residual attention blocks (batch first).
        x: (n, L, D).
        attn_mask: (L, L) additive mask, e.g. the causal mask of the text transformer.
    Returns:
        (n, L, D).
    """
    for i in range(start, len(blocks)):
        x = blocks[i](x, attn_mask=attn_mask)
        if adapters is not None:
            x = adapters.after_block(i, x)
    return x
