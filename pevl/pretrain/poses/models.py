"""The two small torch models behind the shipped pose ONNX files, and their rtmlib-format export heads.

- `PersonDetector`: a CenterNet-style person detector at stride 4 on rtmlib's letterboxed YOLOX
  input (raw 0..255 BGR). Exported through `YoloxEnd2End`, whose graph does the peak picking
  (3x3 max-pool NMS, top-k) so that its outputs are YOLOX end2end's: dets (1, N, 5) x1, y1, x2, y2,
  score in input pixels and labels (1, N), class 0 = person.
- `KeypointNet`: a top-down keypoint model on rtmlib's affine crop (normalised with RTMPose's mean
  and std): per-joint heatmaps at stride 2 and a per-joint visibility. Exported through `SimccHead`,
  which turns each heatmap into RTMPose's SimCC outputs simcc_x (1, K, 2W), simcc_y (1, K, 2H): one
  peak per axis at the heatmap's local mean, of height = the joint's visibility score, so rtmlib's
  argmax decoding (bins / 2 = crop pixels) reads the location and its max reads the score.
"""

import torch
from torch import nn
from torch.nn import functional as F

STRIDE = 4  # the detector's output stride
# a heatmap cell covers STRIDE input pixels: its centre, in pixels (pixel i is centred at i)
CELL_CENTRE = (STRIDE - 1) / 2
POSE_STRIDE = 2  # the keypoint heatmaps' stride: finer cells, as small crops need
POSE_CELL_CENTRE = (POSE_STRIDE - 1) / 2
SIMCC_SPLIT = 2.0  # rtmlib's simcc_split_ratio
# box sides are predicted as log(side / BOX_UNIT)
BOX_UNIT = 16.0


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _Pyramid(nn.Module):
    """Convs down to stride 16, then up again to stride 4 with lateral sums: (B, 3, H, W) -> (B, D, H/4, W/4)."""

    def __init__(self, widths: tuple[int, int, int, int], out: int):
        super().__init__()
        a, b, c, d = widths
        self.s2 = _conv(3, a, 2)
        self.s4 = nn.Sequential(_conv(a, b, 2), _conv(b, b))
        self.s8 = nn.Sequential(_conv(b, c, 2), _conv(c, c))
        self.s16 = nn.Sequential(_conv(c, d, 2), _conv(d, d), _conv(d, d))
        self.lat8, self.lat4 = nn.Conv2d(c, out, 1), nn.Conv2d(b, out, 1)
        self.top = nn.Conv2d(d, out, 1)
        self.fuse8, self.fuse4 = _conv(out, out), _conv(out, out)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns stride-4 features (B, out, H/4, W/4), stride-2 (B, a, H/2, W/2) and stride-16 (B, d, H/16, W/16)."""
        f2 = self.s2(x)
        f4 = self.s4(f2)
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        p8 = self.fuse8(self.lat8(f8) + F.interpolate(self.top(f16), size=f8.shape[2:], mode="nearest"))
        p4 = self.fuse4(self.lat4(f4) + F.interpolate(p8, size=f4.shape[2:], mode="nearest"))
        return p4, f2, f16


class PersonDetector(nn.Module):
    """(B, 3, H, W) raw BGR -> heat logits (B, 1, H/4, W/4), offsets (B, 2, .), log sizes (B, 2, .)."""

    def __init__(self, widths: tuple[int, int, int, int] = (16, 24, 48, 64), out: int = 32):
        super().__init__()
        self.body = _Pyramid(widths, out)
        self.heat = nn.Conv2d(out, 1, 1)
        self.box = nn.Conv2d(out, 4, 1)
        nn.init.constant_(self.heat.bias, -4.0)  # few cells hold a person: start near "nobody"

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        feat, _, _ = self.body(x / 255.0 - 0.5)
        box = self.box(feat)
        return self.heat(feat), box[:, :2], box[:, 2:]


class YoloxEnd2End(nn.Module):
    """PersonDetector -> YOLOX end2end outputs: dets (1, N, 5), labels (1, N)."""

    def __init__(self, detector: PersonDetector, max_dets: int = 5):
        super().__init__()
        self.detector = detector
        self.max_dets = max_dets

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        heat, offset, log_size = self.detector(x)
        heat = torch.sigmoid(heat)
        peaks = heat * (F.max_pool2d(heat, 3, 1, 1) == heat).float()  # (1, 1, h, w)
        w = heat.shape[3]
        scores, idx = peaks.flatten(1).topk(self.max_dets, dim=1)  # (1, N)
        gy = torch.div(idx, w, rounding_mode="floor").float()
        gx = (idx % w).float()
        off = offset.flatten(2).gather(2, idx[:, None].expand(-1, 2, -1))  # (1, 2, N)
        side = torch.exp(log_size.flatten(2).gather(2, idx[:, None].expand(-1, 2, -1))) * BOX_UNIT
        cx, cy = (gx + off[:, 0]) * STRIDE, (gy + off[:, 1]) * STRIDE
        boxes = torch.stack([cx - side[:, 0] / 2, cy - side[:, 1] / 2, cx + side[:, 0] / 2, cy + side[:, 1] / 2], 2)
        dets = torch.cat([boxes, scores[..., None]], dim=2)  # (1, N, 5)
        return dets, torch.zeros_like(idx)


class KeypointNet(nn.Module):
    """(B, 3, H, W) normalised crop -> heatmap logits (B, K, H/2, W/2), visibility logits (B, K)."""

    def __init__(self, joints: int = 17, widths: tuple[int, int, int, int] = (24, 32, 64, 96), out: int = 48):
        super().__init__()
        self.body = _Pyramid(widths, out)
        self.refine = _conv(out, out)
        self.lat2 = nn.Conv2d(widths[0], out, 1)
        self.heat = nn.Conv2d(out, joints, 1)
        self.visible = nn.Linear(widths[3], joints)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p4, f2, top = self.body(x)
        up = F.interpolate(self.refine(p4), size=f2.shape[2:], mode="nearest")
        p2 = F.relu(self.lat2(f2) + up)  # (B, out, H/2, W/2): stride-4 context, stride-2 detail
        return self.heat(p2), self.visible(top.mean(dim=(2, 3)))


class SimccHead(nn.Module):
    """KeypointNet -> RTMPose SimCC outputs simcc_x (1, K, 2W), simcc_y (1, K, 2H)."""

    def __init__(self, net: KeypointNet, input_size: tuple[int, int], width_bins: float = 1.0):
        super().__init__()
        self.net = net
        w, h = input_size
        self.register_buffer("bins_x", torch.arange(int(w * SIMCC_SPLIT)).float())
        self.register_buffer("bins_y", torch.arange(int(h * SIMCC_SPLIT)).float())
        self.width_bins = width_bins

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        heat, visible = self.net(x)
        b, k, h, w = heat.shape
        prob = torch.softmax(heat.flatten(2), dim=2).view(b, k, h, w)
        mu_x, mu_y = local_mean(prob.sum(2)), local_mean(prob.sum(3))  # (B, K) cells
        score = torch.sigmoid(visible)[..., None]  # (B, K, 1)
        simcc_x = score * self._peak(self.bins_x, mu_x)
        simcc_y = score * self._peak(self.bins_y, mu_y)
        return simcc_x, simcc_y

    def _peak(self, bins: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        centre = (mu * POSE_STRIDE + POSE_CELL_CENTRE) * SIMCC_SPLIT  # (B, K) in bins
        return torch.exp(-0.5 * ((bins - centre[..., None]) / self.width_bins) ** 2)


def local_mean(marginal: torch.Tensor) -> torch.Tensor:
    """(B, K, L) a distribution over cells -> (B, K) its mean over the argmax cell and its two neighbours."""
    cells = torch.arange(marginal.shape[2], dtype=marginal.dtype, device=marginal.device)
    top = marginal.argmax(dim=2, keepdim=True).to(marginal.dtype)  # (B, K, 1)
    near = marginal * ((cells - top).abs() <= 1).to(marginal.dtype)
    return (near * cells).sum(2) / near.sum(2).clamp_min(1e-8)
