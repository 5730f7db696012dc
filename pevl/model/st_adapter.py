"""ST-Adapter temporal adaptation of a frozen CLIP image tower (Pan et al., NeurIPS 2022).

Before every frozen block, the patch tokens of a clip go through a bottleneck whose middle is a
depthwise 3D convolution over (T, H, W):

    x_patches = x_patches + up(act(DWConv3D(down(x_patches))))

`up` zero-initialised (the tower starts as frozen CLIP frame by frame); the class token of each
frame passes through unchanged, as in the paper. The kernel's temporal size is odd, its spatial
size 1 by default (the paper's (3, 1, 1)); zero padding in time makes the convolution see order.
On the pose path the "grid" is the K joints in a column with a spatial kernel of 1, so the
convolution mixes each joint only with itself in neighbouring frames.
"""

import torch
from torch import nn

from pevl.model.adapters import AdapterStack
from pevl.model.temporal import block_caller, check_frames


class STAdapter(nn.Module):
    """One ST-Adapter: bottleneck with a depthwise 3D convolution over the clip's token grid.

    Args:
        width: D.
        bottleneck: hidden width (channels of the depthwise convolution).
        grid: (gh, gw), the layout of the L-1 non-class tokens of a frame (row-major).
        kernel: (kt, kh, kw), odd sizes.
    """

    def __init__(self, width: int, bottleneck: int, grid: tuple[int, int], kernel: tuple[int, int, int]):
        super().__init__()
        if any(k % 2 == 0 for k in kernel):
            raise ValueError(f"ST-Adapter kernel sizes must be odd, got {kernel}")
        self.grid = tuple(grid)
        self.down = nn.Linear(width, bottleneck)
        self.conv = nn.Conv3d(bottleneck, bottleneck, kernel, padding=tuple(k // 2 for k in kernel), groups=bottleneck)
        self.act = nn.GELU()
        self.up = nn.Linear(bottleneck, width)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Adapt the non-class tokens of whole clips.

        Args:
            x: (B*T, 1 + gh*gw, D), class token first, frames of a clip consecutive.
        Returns:
            (B*T, 1 + gh*gw, D).
        """
        cls, tokens = x[:, :1], x[:, 1:]
        h = self.down(tokens).unflatten(0, (-1, num_frames)).unflatten(2, self.grid)  # (B, T, gh, gw, R)
        h = self.conv(h.permute(0, 4, 1, 2, 3))  # (B, R, T, gh, gw)
        h = h.permute(0, 2, 3, 4, 1).flatten(2, 3).flatten(0, 1)  # (B*T, N, R)
        return torch.cat([cls, tokens + self.up(self.act(h))], dim=1)


def st_block(block: nn.Module, adapter: STAdapter, x: torch.Tensor, num_frames: int) -> torch.Tensor:
    """ST-Adapter, then the frozen block.

    Args:
        x: (B*T, L, D).
    Returns:
        (B*T, L, D).
    """
    return block(adapter(x, num_frames))


class STAdapterTower(nn.Module):
    """An ST-Adapter before every frozen block of one encoder path (module doc).

    Args:
        width: D.
        bottleneck: hidden width of every adapter.
        num_blocks: blocks of the frozen tower.
        num_frames: T of a clip on this path.
        grid: layout of the non-class tokens: the patch grid (video), or (K, 1) (pose joints).
        kernel: (kt, kh, kw) of the depthwise convolution.
        use_checkpoint: recompute each block in backward.
    """

    def __init__(
        self, width: int, bottleneck: int, num_blocks: int, num_frames: int, grid: tuple[int, int],
        kernel: tuple[int, int, int] = (3, 1, 1), use_checkpoint: bool = False,
    ):
        super().__init__()
        self.num_frames = num_frames
        self.blocks = nn.ModuleList(STAdapter(width, bottleneck, grid, kernel) for _ in range(num_blocks))
        self.run_block = block_caller(use_checkpoint)

    def forward(self, x: torch.Tensor, blocks: nn.ModuleList, adapters: AdapterStack | None = None) -> torch.Tensor:
        """Run the frozen blocks with an ST-Adapter before each.

        Args:
            x: (B*T, L, D) embedded tokens of whole clips.
            blocks: the frozen open_clip blocks.
            adapters: serial adapters after the last M blocks (`adapter.placement: inside`), or None.
        Returns:
            (B*T, L, D).
        """
        check_frames(x, self.num_frames)
        for i, (block, adapter) in enumerate(zip(blocks, self.blocks, strict=True)):
            x = self.run_block(st_block, block, adapter, x, self.num_frames)
            if adapters is not None:
                x = adapters.after_block(i, x)
        return x
