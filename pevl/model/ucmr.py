"""UCMR: Unsymmetrical Cross-Modality Refinement = P2V-R + V2P-R (METHOD.md section 3).

`order` [inferred]: "parallel" (default), both refiners read the unrefined tokens, so each can be
switched off alone; "p2v_first", V2P-R reads the refined video tokens X'; "v2p_first", P2V-R
weighs and places the refined pose tokens J'. For the refinement supervision
(`L_UCMR = NTXent(pool(X), pool(X')) + NTXent(pool(J), pool(J'))`, in `pevl.losses`) the module
returns each refined modality's features before and after refinement, pooled over tokens and
frames.
"""

from dataclasses import dataclass, field
from typing import Literal

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
        order: "parallel", "p2v_first" or "v2p_first" (module doc).
    """

    def __init__(
        self,
        p2v: P2VRefiner | None,
        v2p: V2PRefiner | None,
        order: Literal["parallel", "p2v_first", "v2p_first"] = "parallel",
    ):
        super().__init__()
        self.p2v = p2v
        self.v2p = v2p
        self.order = order

    def forward(self, video: torch.Tensor, pose: PoseTokens) -> Refined:
        """Refine video and pose tokens with each other.

        Args:
            video: (B, T, 1 + N, D) video tokens X.
            pose: pose tokens J (B, T, 1 + K, D) with positions and scores.
        """
        out = Refined(video=video, pose=pose)
        if self.order == "v2p_first":
            self._v2p(out, video, pose)
            self._p2v(out, video, out.pose)
        else:
            self._p2v(out, video, pose)
            self._v2p(out, out.video if self.order == "p2v_first" else video, pose)
        return out

    def _p2v(self, out: Refined, video: torch.Tensor, pose: PoseTokens) -> None:
        """Run P2V-R (if on) on these tokens; record X', the mask and the (X, X') pair in `out`."""
        if self.p2v is None:
            return
        out.video, out.pose_mask = self.p2v(video, pose)
        out.pairs["video"] = (pool_tokens(video), pool_tokens(out.video))

    def _v2p(self, out: Refined, video: torch.Tensor, pose: PoseTokens) -> None:
        """Run V2P-R (if on) on these tokens; record J', the groups and the (J, J') pair in `out`."""
        if self.v2p is None:
            return
        tokens, out.groups = self.v2p(pose, video)
        out.pose = PoseTokens(tokens, pose.xy, pose.score)
        out.pairs["pose"] = (pool_tokens(pose.tokens), pool_tokens(tokens))
