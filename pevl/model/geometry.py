"""Image-plane geometry shared by the pose encoder and UCMR: cell centres and separable Gaussians.

All positions are in [0, 1] image coordinates, (x, y), with y pointing down.
"""

import torch


def cell_centres(n: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Centres of `n` equal cells along one image axis: `(i + 0.5) / n`.

    Returns:
        (n,).
    """
    return (torch.arange(n, device=device, dtype=dtype) + 0.5) / n


def patch_centres(grid: tuple[int, int]) -> torch.Tensor:
    """Centres of the ViT patches in [0, 1] image coordinates, row-major like the token order.

    Returns:
        (N, 2) as (x, y), N = gh * gw.
    """
    gh, gw = grid
    yy, xx = torch.meshgrid(cell_centres(gh), cell_centres(gw), indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], dim=-1)


def gaussian_profiles(xy: torch.Tensor, size: tuple[int, int], sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The two 1D factors of isotropic Gaussians at `xy`, sampled at the cell centres of an h x w grid.

    The 2D Gaussian of joint k at cell (i, j) is `gy[..., k, i] * gx[..., k, j]`, so no (K, h, w)
    tensor is needed.

    Args:
        xy: (n, K, 2) positions in [0, 1] (x, y).
        size: (h, w) sample grid.
        sigma: Gaussian sigma, fraction of the image side.
    Returns:
        gy (n, K, h) and gx (n, K, w), in xy's dtype.
    """
    h, w = size
    ys = cell_centres(h, xy.device, xy.dtype)
    xs = cell_centres(w, xy.device, xy.dtype)
    gy = torch.exp(-((ys - xy[..., 1:2]) ** 2) / (2 * sigma**2))  # (n, K, h)
    gx = torch.exp(-((xs - xy[..., 0:1]) ** 2) / (2 * sigma**2))  # (n, K, w)
    return gy, gx
