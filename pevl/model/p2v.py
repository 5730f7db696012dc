"""P2V-R: pose-guided visual refinement (METHOD.md section 3).

1. Joint weights from the pose encoder's last layer: `w_t = softmax_k(scorer(J_t[1:]))`, a
   learned linear scorer [inferred; the notes: "the weights of all joints from the last layer of
   the pose encoder"].
2. Weighted pose mask `M_t(x, y) = sum_k w_tk c_tk exp(-|(x, y) - u_tk|^2 / 2 sigma^2)`, sampled at
   `samples x samples` points per patch, normalised to [0, 1] per frame and averaged per patch
   -> `m_t (N,)` [seed: H x W mask decomposed with the video's patch size]. A frame with no
   confident joint gets m = 1 everywhere (no bias) instead of an all-zero mask.
3. A new attention layer over `X_t` whose logits get `beta * log(m_t + eps)` on the patch keys (the
   class key gets 0), beta learnable (init 1), added back with a zero-initialised output ->
   `X'_t` [inferred form of "local attention that modulates the video tokens with the pose"].
"""

import torch
from torch import nn

from pevl.model.attention import ResidualAttention
from pevl.model.geometry import gaussian_profiles
from pevl.model.pose_encoder import PoseTokens


def pose_mask(
    xy: torch.Tensor, weight: torch.Tensor, grid: tuple[int, int], sigma: float, samples: int
) -> torch.Tensor:
    """Weighted Gaussian pose mask, normalised to [0, 1] per frame and averaged per patch.

    Args:
        xy: (n, K, 2) joint positions in [0, 1] (x, y).
        weight: (n, K) joint weight times confidence; 0 = the joint contributes nothing.
        grid: (gh, gw) patch grid.
        sigma: Gaussian sigma, fraction of the image side.
        samples: sample points per patch side.
    Returns:
        (n, N) with N = gh * gw, row-major like the patch tokens.
    """
    gh, gw = grid
    xy, weight = xy.float(), weight.float()
    gy, gx = gaussian_profiles(xy, (gh * samples, gw * samples), sigma)  # (n, K, gh*s), (n, K, gw*s)
    with torch.autocast(xy.device.type, enabled=False):  # float32: the mask feeds log(m + eps)
        m = torch.einsum("nk,nkh,nkw->nhw", weight, gy, gx)  # (n, gh*s, gw*s)
    peak = m.amax(dim=(1, 2), keepdim=True)
    m = torch.where(peak > 0, m / peak.clamp_min(1e-12), torch.ones_like(m))
    m = m.unflatten(1, (gh, samples)).unflatten(3, (gw, samples)).mean(dim=(2, 4))  # (n, gh, gw)
    return m.flatten(1)


class P2VRefiner(nn.Module):
    """Pose-guided visual refinement (module doc).

    Args:
        width: D.
        heads: attention heads.
        grid: (gh, gw) patch grid of the video tokens.
        sigma: pose mask Gaussian sigma (fraction of the image side).
        samples: mask samples per patch side.
        eps: eps of `log(m + eps)`.
    """

    def __init__(self, width: int, heads: int, grid: tuple[int, int], sigma: float, samples: int, eps: float):
        super().__init__()
        self.grid = tuple(grid)
        self.sigma = sigma
        self.samples = samples
        self.eps = eps
        self.scorer = nn.Linear(width, 1, bias=False)  # a bias would cancel in the softmax over joints
        self.beta = nn.Parameter(torch.ones(()))
        self.attn = ResidualAttention(width, heads)

    def forward(self, video: torch.Tensor, pose: PoseTokens) -> tuple[torch.Tensor, torch.Tensor]:
        """Refine the video tokens with the weighted pose mask.

        Args:
            video: (B, T, 1 + N, D) video tokens X.
            pose: pose tokens J (B, T, 1 + K, D) with positions and scores.
        Returns:
            X' (B, T, 1 + N, D) and the patch mask m (B, T, N).
        """
        b, t = video.shape[:2]
        w = self.scorer(pose.tokens[:, :, 1:]).squeeze(-1).float().softmax(-1)  # (B, T, K)
        weight = (w * pose.score.float()).flatten(0, 1)
        m = pose_mask(pose.xy.flatten(0, 1), weight, self.grid, self.sigma, self.samples)  # (B*T, N)
        bias = self.beta * torch.log(m + self.eps)
        bias = torch.cat([bias.new_zeros(bias.shape[0], 1), bias], dim=1).unsqueeze(1)  # (B*T, 1, 1+N)
        x = video.flatten(0, 1)
        x = self.attn(x, x, bias=bias)
        return x.unflatten(0, (b, t)), m.unflatten(0, (b, t))
