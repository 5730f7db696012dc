"""AIM-style temporal adaptation of a frozen CLIP image tower (Yang et al., ICLR 2023).

Every frozen block runs as (x: all tokens of the B*T frames of a batch):

    x = x + T_adapter(attn_T(ln_1(x) + e_t))   temporal attention: each token position attends over
                                               the T frames, with the block's own frozen attention
    x = x + S_adapter(attn(ln_1(x)))           frozen spatial attention + serial adapter (with skip)
    x = x + mlp(ln_2(x)) + s * J_adapter(ln_2(x))   frozen MLP + parallel joint adapter

T_adapter and J_adapter are bottlenecks without a skip, S_adapter has one; every up-projection is
zero-initialised, so the tower starts exactly as frozen CLIP applied frame by frame.

e_t is a learned temporal position embedding (one per frame, shared by the blocks). Without one,
attention over frames is permutation-equivariant and the frame mean makes the model order-blind.
AIM adds one to the tower's input, where it must start at zero to keep the start exact; here it
enters only the temporal branch, so it can start random (N(0, 1), the scale of the ln_1 output) and
the start is still exactly CLIP. Measured on the direction task of tests/test_model_temporal.py
(tiny random backbone): with a zero-initialised input embedding the loss did not move in 300 steps;
with this one the model is 100% right on held-out clips after 200.
The same tower serves the pose path: there the token positions are the class token and the K joints,
so each joint attends over its own sequence of frames.
"""

import torch
from torch import nn

from pevl.model.adapters import Adapter, AdapterStack, Bottleneck
from pevl.model.temporal import across_frames, block_caller, check_frames, frozen_attention, within_frames


class AIMBlockAdapters(nn.Module):
    """The trainable parts AIM adds to one frozen block.

    Args:
        width: D.
        bottleneck: hidden width of the three adapters.
        joint_scale: s, the weight of the joint adapter beside the MLP.
    """

    def __init__(self, width: int, bottleneck: int, joint_scale: float):
        super().__init__()
        self.temporal = Bottleneck(width, bottleneck)
        self.spatial = Adapter(width, bottleneck)
        self.joint = Bottleneck(width, bottleneck)
        self.joint_scale = joint_scale


def aim_block(block: nn.Module, parts: AIMBlockAdapters, x: torch.Tensor, time_embed: torch.Tensor) -> torch.Tensor:
    """One frozen open_clip ResidualAttentionBlock with AIM's adapters (module doc).

    Args:
        block: the frozen block (ln_1, attn, ls_1, ln_2, mlp, ls_2).
        x: (B*T, L, D).
        time_embed: (T, 1, D) temporal position embedding of the temporal branch.
    Returns:
        (B*T, L, D).
    """
    length, num_frames = x.shape[1], time_embed.shape[0]
    h = (block.ln_1(x).unflatten(0, (-1, num_frames)) + time_embed.to(x.dtype)).flatten(0, 1)  # (B*T, L, D)
    xt = across_frames(h, num_frames)  # (B*L, T, D)
    xt = within_frames(frozen_attention(block.attn, xt), length)  # (B*T, L, D)
    x = x + parts.temporal(xt)
    x = x + parts.spatial(block.ls_1(frozen_attention(block.attn, block.ln_1(x))))
    h = block.ln_2(x)
    return x + block.ls_2(block.mlp(h)) + parts.joint_scale * parts.joint(h)


class AIMTower(nn.Module):
    """AIM adapters in every frozen block of one encoder path (module doc).

    Args:
        width: D.
        bottleneck: hidden width of every adapter.
        num_blocks: blocks of the frozen tower (all are adapted).
        num_frames: T, the frames of a clip this path encodes (the temporal embedding's length).
        joint_scale: s of the joint adapter (AIM: 0.5).
        use_checkpoint: recompute each block in backward (activation memory of ViT-L/14).
    """

    def __init__(
        self, width: int, bottleneck: int, num_blocks: int, num_frames: int, joint_scale: float = 0.5,
        use_checkpoint: bool = False,
    ):
        super().__init__()
        self.num_frames = num_frames
        self.time_embed = nn.Parameter(torch.randn(num_frames, 1, width))
        self.blocks = nn.ModuleList(AIMBlockAdapters(width, bottleneck, joint_scale) for _ in range(num_blocks))
        self.run_block = block_caller(use_checkpoint)

    def forward(self, x: torch.Tensor, blocks: nn.ModuleList, adapters: AdapterStack | None = None) -> torch.Tensor:
        """Run the frozen blocks with the temporal adapters.

        Args:
            x: (B*T, L, D) embedded tokens of whole clips, frames of a clip consecutive.
            blocks: the frozen open_clip blocks (batch first), one per entry of `self.blocks`.
            adapters: serial adapters after the last M blocks (`adapter.placement: inside`), or None.
        Returns:
            (B*T, L, D).
        """
        check_frames(x, self.num_frames)
        for i, (block, parts) in enumerate(zip(blocks, self.blocks, strict=True)):
            x = self.run_block(aim_block, block, parts, x, self.time_embed)
            if adapters is not None:
                x = adapters.after_block(i, x)
        return x
