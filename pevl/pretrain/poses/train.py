"""Training of the two pose models: targets, losses and a fixed-step Adam loop (one CPU thread).

Detector: CenterNet's penalty-reduced focal loss on a Gaussian at the box centre, L1 on the
centre cell's sub-cell offset and log box sides. Keypoints: cross-entropy of each joint's softmax
heatmap against a Gaussian around the joint (visible joints only), and BCE on visibility.
"""

import logging
import math

import numpy as np
import torch
from torch.nn import functional as F

from pevl.pretrain.poses.models import BOX_UNIT, POSE_CELL_CENTRE, POSE_STRIDE, STRIDE, KeypointNet, PersonDetector
from pevl.pretrain.poses.samples import POSE_MEAN, POSE_STD, DetectorSet, KeypointSet
from pevl.progress import progress

log = logging.getLogger(__name__)


def detector_targets(boxes: torch.Tensor, grid: tuple[int, int]) -> dict[str, torch.Tensor]:
    """(B, M, 4) input-pixel boxes (zero rows = none) -> heat (B, 1, h, w) and per box: cells (B, M), offsets, log sides, mask."""
    h, w = grid
    present = (boxes[..., 2] - boxes[..., 0] >= 1) & (boxes[..., 3] - boxes[..., 1] >= 1)  # (B, M)
    centre = (boxes[..., :2] + boxes[..., 2:]) / 2 / STRIDE  # (B, M, 2) cells
    cell = torch.minimum(centre.floor().clamp_min(0), torch.tensor([w - 1.0, h - 1.0]))
    sides = (boxes[..., 2:] - boxes[..., :2]).clamp_min(1.0)
    sigma = (sides.min(-1).values / STRIDE / 6).clamp_min(0.7)  # (B, M)
    ys, xs = torch.arange(h).float(), torch.arange(w).float()
    d2 = (xs[None, None, None] - cell[..., 0, None, None]) ** 2 + (ys[None, None, :, None] - cell[..., 1, None, None]) ** 2
    heat = (torch.exp(-d2 / (2 * sigma[..., None, None] ** 2)) * present[..., None, None]).amax(1)  # (B, h, w)
    return {"heat": heat[:, None], "index": (cell[..., 1] * w + cell[..., 0]).long(), "offset": centre - cell,
            "log_size": torch.log(sides / BOX_UNIT), "present": present.float()}


def detector_loss(model: PersonDetector, images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Args: images (B, 3, H, W) raw BGR, boxes (B, M, 4). Returns the scalar loss."""
    heat, offset, log_size = model(images)
    t = detector_targets(boxes, heat.shape[2:])
    p = torch.sigmoid(heat).clamp(1e-4, 1 - 1e-4)
    pos = (t["heat"] > 0.999).float()
    focal = -(pos * (1 - p) ** 2 * torch.log(p) + (1 - pos) * (1 - t["heat"]) ** 4 * p ** 2 * torch.log(1 - p)).sum()
    n = t["present"].sum().clamp_min(1.0)
    idx = t["index"][:, None].expand(-1, 2, -1)  # (B, 2, M)
    off = offset.flatten(2).gather(2, idx).transpose(1, 2)  # (B, M, 2)
    size = log_size.flatten(2).gather(2, idx).transpose(1, 2)
    reg = ((off - t["offset"]).abs().sum(-1) + (size - t["log_size"]).abs().sum(-1)) * t["present"]
    return focal / n + reg.sum() / n


def keypoint_loss(model: KeypointNet, crops: torch.Tensor, joints: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Args: crops (B, 3, h, w) normalised, joints (B, K, 2) crop pixels, visible (B, K). Returns the scalar loss."""
    heat, vis_logit = model(crops)
    b, k, gh, gw = heat.shape
    cells = (joints - POSE_CELL_CENTRE) / POSE_STRIDE  # (B, K, 2)
    ys, xs = torch.arange(gh).float(), torch.arange(gw).float()
    d2 = (xs[None, None, None] - cells[..., 0, None, None]) ** 2 + (ys[None, None, :, None] - cells[..., 1, None, None]) ** 2
    target = torch.exp(-d2 / (2 * 1.5**2)).flatten(2)  # sigma: 1.5 cells
    target = target / target.sum(2, keepdim=True).clamp_min(1e-8)
    ce = -(target * torch.log_softmax(heat.flatten(2), dim=2)).sum(2)  # (B, K)
    loc = (ce * visible).sum() / visible.sum().clamp_min(1.0)
    return loc + 0.5 * F.binary_cross_entropy_with_logits(vis_logit, visible)


def _lr(step: int, steps: int, lr: float) -> float:
    warm = max(1, steps // 20)
    return lr * min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(step / steps, 1.0)))


def _fit(model: torch.nn.Module, loss_of, count: int, steps: int, batch: int, lr: float, seed: int, desc: str) -> list[float]:
    """Adam with warm-up and cosine decay over `steps` batches drawn from `count` samples; returns the losses."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    losses: list[float] = []
    model.train()
    bar = progress(range(steps), desc=desc, unit="step")
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = _lr(step, steps, lr)
        loss = loss_of(rng.integers(0, count, batch))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % 50 == 0 and hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    model.eval()
    return losses


def train_detector(data: DetectorSet, steps: int, batch: int, lr: float, seed: int) -> tuple[PersonDetector, list[float]]:
    """A PersonDetector fitted to `data`."""
    torch.manual_seed(seed)
    model = PersonDetector()

    def loss_of(idx: np.ndarray) -> torch.Tensor:
        images = torch.from_numpy(data.images[idx]).permute(0, 3, 1, 2).float()  # (B, 3, H, W)
        return detector_loss(model, images, torch.from_numpy(data.boxes[idx]))

    return model, _fit(model, loss_of, len(data.images), steps, batch, lr, seed, "detector")


def train_keypoints(data: KeypointSet, steps: int, batch: int, lr: float, seed: int) -> tuple[KeypointNet, list[float]]:
    """A KeypointNet fitted to `data`."""
    torch.manual_seed(seed)
    model = KeypointNet(joints=data.joints.shape[1])
    mean, std = torch.tensor(POSE_MEAN).view(1, 3, 1, 1), torch.tensor(POSE_STD).view(1, 3, 1, 1)

    def loss_of(idx: np.ndarray) -> torch.Tensor:
        crops = (torch.from_numpy(data.crops[idx]).permute(0, 3, 1, 2).float() - mean) / std  # (B, 3, h, w)
        return keypoint_loss(model, crops, torch.from_numpy(data.joints[idx]), torch.from_numpy(data.visible[idx]))

    return model, _fit(model, loss_of, len(data.crops), steps, batch, lr, seed, "keypoints")
