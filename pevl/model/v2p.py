"""V2P-R: visual-enriched pose refinement (METHOD.md section 3).

1. One learnable background token is appended to each frame's pose tokens [seed].
2. Every patch is grouped with its nearest joint whose score is above the threshold and whose
   distance is within the radius (in patches); otherwise with the background token [seed: "all
   pixels grouped into the matching pose tokens, body-joint tokens and one background token"].
3. Grouped cross-attention: each joint token and the background token attend only to the visual
   tokens of their group; an empty group gives a zero update (never NaN). The pose class token
   belongs to no group; what it attends to is `cls_keys` [inferred]: "all" (default) every visual
   token (the frame's global context), "video_cls" only its counterpart, the frame's visual class
   token, or "none" (no cross-attention update). Residual, zero-initialised output.
4. A zero-initialised self-attention over the refined pose tokens (class, joints, background)
   lets the class token collect what the joints and the background gathered [inferred: the
   paper's refined pose tokens feed the clip and frame pose features; `use_mix=False` removes it].
   The background token is then dropped: `J'_t (1+K, D)`.
Whether the visual tokens are X before or after P2V-R is UCMR's `order` (pevl/model/ucmr.py).
"""

from typing import Literal

import torch
from torch import nn

from pevl.model.attention import ResidualAttention
from pevl.model.geometry import patch_centres
from pevl.model.pose_encoder import PoseTokens


def group_patches(
    xy: torch.Tensor,
    score: torch.Tensor,
    centres: torch.Tensor,
    grid: tuple[int, int],
    radius: float,
    threshold: float,
) -> torch.Tensor:
    """Group each patch with its nearest confident joint within `radius` patches, else background.

    Args:
        xy: (n, K, 2) joint positions in [0, 1].
        score: (n, K) joint confidences.
        centres: (N, 2) patch centres in [0, 1].
        grid: (gh, gw); distances are measured in patches along each axis.
        radius: grouping radius in patches.
        threshold: joints with score <= threshold group nothing.
    Returns:
        (n, N) long: the joint index 0..K-1, or K for the background token.
    """
    k = xy.shape[1]
    scale = torch.tensor([grid[1], grid[0]], device=xy.device, dtype=torch.float32)
    diff = (centres.float()[None, None] - xy.float()[:, :, None]) * scale  # (n, K, N, 2)
    dist = diff.norm(dim=-1)
    dist = dist.masked_fill(~(score > threshold)[..., None], float("inf"))
    best, nearest = dist.min(dim=1)  # (n, N)
    return torch.where(best <= radius, nearest, torch.full_like(nearest, k))


def group_keys(
    groups: torch.Tensor, num_joints: int, num_keys: int, cls_keys: Literal["all", "video_cls", "none"]
) -> torch.Tensor:
    """Which visual tokens each V2P query (pose class, K joints, background) may attend to.

    Args:
        groups: (n, N) patch groups from `group_patches` (K = background).
        num_joints: K.
        num_keys: 1 + N visual tokens (class token first).
        cls_keys: keys of the pose class token (module doc).
    Returns:
        (n, K + 2, 1 + N) bool.
    """
    member = nn.functional.one_hot(groups, num_joints + 1).transpose(1, 2).bool()  # (n, K+1, N)
    allowed = torch.zeros(groups.shape[0], num_joints + 2, num_keys, dtype=torch.bool, device=groups.device)
    allowed[:, 1:, 1:] = member
    if cls_keys == "all":
        allowed[:, 0] = True
    elif cls_keys == "video_cls":
        allowed[:, 0, 0] = True
    return allowed


class V2PRefiner(nn.Module):
    """Visual-enriched pose refinement (module doc).

    Args:
        width: D.
        heads: attention heads.
        grid: (gh, gw) patch grid of the video tokens.
        radius: grouping radius in patches.
        threshold: score threshold of a joint that groups patches.
        cls_keys: what the pose class token attends to (module doc).
        use_mix: the self-attention over the refined pose tokens (module doc, step 4).
    """

    def __init__(
        self,
        width: int,
        heads: int,
        grid: tuple[int, int],
        radius: float,
        threshold: float,
        cls_keys: Literal["all", "video_cls", "none"] = "all",
        use_mix: bool = True,
    ):
        super().__init__()
        self.grid = tuple(grid)
        self.radius = radius
        self.threshold = threshold
        self.cls_keys = cls_keys
        self.background = nn.Parameter(torch.randn(width) * 0.02)
        self.cross = ResidualAttention(width, heads)
        self.mix = ResidualAttention(width, heads) if use_mix else None
        self.register_buffer("centres", patch_centres(self.grid), persistent=False)

    def forward(self, pose: PoseTokens, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Refine the pose tokens with the visual tokens of their groups.

        Args:
            pose: pose tokens J (B, T, 1 + K, D) with positions and scores.
            video: (B, T, 1 + N, D) video tokens X.
        Returns:
            J' (B, T, 1 + K, D) and the patch groups (B, T, N) (K = background).
        """
        b, t, lj, d = pose.tokens.shape
        k = lj - 1
        groups = group_patches(
            pose.xy.flatten(0, 1), pose.score.flatten(0, 1), self.centres, self.grid, self.radius, self.threshold
        )  # (n, N)
        j = pose.tokens.flatten(0, 1)  # (n, 1+K, D)
        q = torch.cat([j, self.background.to(j.dtype).expand(j.shape[0], 1, d)], dim=1)  # (n, K+2, D)
        allowed = group_keys(groups, k, video.shape[2], self.cls_keys)  # (n, K+2, 1+N)
        x = self.cross(q, video.flatten(0, 1), allowed=allowed)
        if self.mix is not None:
            x = self.mix(x, x)
        return x[:, : k + 1].unflatten(0, (b, t)), groups.unflatten(0, (b, t))
