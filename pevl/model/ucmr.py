"""UCMR: Unsymmetrical Cross-Modality Refinement = P2V-R + V2P-R (METHOD.md section 3).

Both refiners read the unrefined tokens (they run in parallel). For the refinement supervision
(`L_UCMR = NTXent(pool(X), pool(X')) + NTXent(pool(J), pool(J'))`, in `pevl.losses`) the module
returns each refined modality's features before and after refinement, pooled over tokens and
frames.
"""

from dataclasses import dataclass, field

import torch
from torch import nn

from pevl.model.p2v import P2VRefiner
from pevl.model.pose_encoder import PoseTokens
from pevl.model.v2p import V2PRefiner


@dataclass
class Refined:
    """UCMR output: refined tokens, the P2V mask, the V2P groups, and (before, after) pairs."""

    video: torch.Tensor | None  # (B, T, 1+N, D)
    pose: PoseTokens | None
    pose_mask: torch.Tensor | None = None  # (B, T, N)
    groups: torch.Tensor | None = None  # (B, T, N), K = background
    pairs: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)  # (B, D) each


def pool_tokens(x: torch.Tensor) -> torch.Tensor:
    """Mean over frames and tokens.

    Args:
        x: (B, T, L, D).
    Returns:
        (B, D).
    """
    return x.mean(dim=(1, 2))


class UCMR(nn.Module):
    """P2V-R and/or V2P-R; a refiner that is None is switched off (ablation).

    Args:
        p2v: pose-guided visual refinement, or None.
        v2p: visual-enriched pose refinement, or None.
    """

    def __init__(self, p2v: P2VRefiner | None, v2p: V2PRefiner | None):
        super().__init__()
        self.p2v = p2v
        self.v2p = v2p

    def forward(self, video: torch.Tensor, pose: PoseTokens) -> Refined:
        """Refine video and pose tokens with each other.

        Args:
            video: (B, T, 1 + N, D) video tokens X.
            pose: pose tokens J (B, T, 1 + K, D) with positions and scores.
        """
        out = Refined(video=video, pose=pose)
        if self.p2v is not None:
            out.video, out.pose_mask = self.p2v(video, pose)
            out.pairs["video"] = (pool_tokens(video), pool_tokens(out.video))
        if self.v2p is not None:
            tokens, out.groups = self.v2p(pose, video)
            out.pose = PoseTokens(tokens, pose.xy, pose.score)
            out.pairs["pose"] = (pool_tokens(pose.tokens), pool_tokens(tokens))
        return out
