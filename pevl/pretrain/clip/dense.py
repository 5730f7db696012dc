"""Pretrain the tiny CLIP with a dense joint objective beside the caption loss (`pevl pretrain clip --joint-weight W`).

Why: the demo's video-text baseline reads frozen frame-mean tokens linearly, and a CLIP trained on
captions alone leaves them near chance for the 48 dives (docs/science.md, "What a body-aware
backbone would give the baseline"). A web-scale CLIP knows where a person's limbs are; this
stand-in learns it from the renderer: a linear head on every patch token (after ln_post, the
tokens PeVL reads) predicts, for each of the 17 joints, its Gaussian on the patch grid (sigma
JOINT_SIGMA patches, 0 for a joint that is hidden or outside the crop), by per-patch binary cross
entropy. Loss = CLIP's symmetric InfoNCE over (frame, caption) + W * that BCE. The head is not
shipped (it is saved in the work folder); only the CLIP is. The joints come from pretraining render seeds (1000-1999), never
from a clip a config trains or tests on.

It runs in this process (open_clip_train has no place for a second loss): the frames are rendered
into memory (`data.clip_pairs`, the same pictures the tars hold), resized to the trainer's
image size once; each step takes a random square crop (area `crop_scale`) of each frame and moves
its joints with it.
"""

import hashlib
import logging
import math
import time
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pevl.clip_norm import normalise
from pevl.model.geometry import gaussian_profiles
from pevl.pretrain.clip.data import PRETRAIN_SEEDS, clip_pairs, plan_clips
from pevl.pretrain.clip.timing import cpu_seconds
from pevl.progress import progress
from pevl.train.optim import lr_factor

log = logging.getLogger(__name__)

JOINT_SIGMA = 0.5  # patches, as the probe's heatmap readout (pevl/eval/linear_probe.py)
RESIZE_FACTOR = 1.5  # frames are kept at 1.5 x the image size, so a crop of 60 % area still has detail


@dataclass(frozen=True)
class DenseData:
    """Rendered pretraining frames in memory."""

    images: np.ndarray  # (n, S, S, 3) uint8 RGB
    joints: np.ndarray  # (n, K, 3) x, y in [0, 1] of the image, visibility
    texts: list[str]
    sha256: str  # of images, joints and texts together
    clips: int
    distinct_captions: int


def render(clips: int, seed: int, frames: int, crop: str, side: int) -> DenseData:
    """Render `clips` clips (pretraining seed `seed`), `frames` captioned frames each, frames resized to `side`."""
    if seed not in PRETRAIN_SEEDS:
        raise ValueError(f"pretraining renders use seeds {PRETRAIN_SEEDS.start}-{PRETRAIN_SEEDS.stop - 1}, got {seed}")
    images, joints, texts = [], [], []
    for plan in progress(plan_clips(clips, seed), desc="render", unit="clip"):
        for pair in clip_pairs(plan, frames, random_crop=True, crop=crop):
            images.append(cv2.resize(pair.image, (side, side), interpolation=cv2.INTER_AREA))
            joints.append(pair.joints)
            texts.append(pair.text)
    images_arr, joints_arr = np.stack(images), np.stack(joints)
    digest = hashlib.sha256(images_arr.tobytes())
    digest.update(joints_arr.tobytes())
    digest.update("\n".join(texts).encode())
    return DenseData(images_arr, joints_arr, texts, digest.hexdigest(), clips, len(set(texts)))


def random_crops(images: torch.Tensor, joints: torch.Tensor, size: int, scale: tuple[float, float],
                 gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A random square crop of each image (area fraction in `scale`) resized to `size`, joints moved along.

    Args:
        images: (n, 3, S, S) float.
        joints: (n, K, 3) in [0, 1] of the image.
    Returns:
        (n, 3, size, size) and (n, K, 3); a joint that leaves the crop is marked invisible.
    """
    n = images.shape[0]
    frac = torch.sqrt(torch.empty(n).uniform_(*scale, generator=gen))  # crop side / image side
    x0 = torch.rand(n, generator=gen) * (1 - frac)
    y0 = torch.rand(n, generator=gen) * (1 - frac)
    # affine_grid maps output [-1, 1] to input [-1, 1]: scale by frac, shift to the crop centre
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = frac
    theta[:, 1, 1] = frac
    theta[:, 0, 2] = 2 * (x0 + frac / 2) - 1
    theta[:, 1, 2] = 2 * (y0 + frac / 2) - 1
    grid = F.affine_grid(theta, (n, 3, size, size), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", align_corners=False)
    x = (joints[..., 0] - x0[:, None]) / frac[:, None]
    y = (joints[..., 1] - y0[:, None]) / frac[:, None]
    inside = (x >= 0) & (x <= 1) & (y >= 0) & (y <= 1)
    return out, torch.stack([x, y, joints[..., 2] * inside], dim=-1)


def joint_targets(joints: torch.Tensor, grid: tuple[int, int], sigma: float = JOINT_SIGMA) -> torch.Tensor:
    """Each joint's Gaussian (peak 1, sigma in patches) on the patch grid; 0 where the joint is not visible.

    Returns:
        (n, N, K): patches row-major, as the token order.
    """
    gy, gx = gaussian_profiles(joints[..., :2], grid, sigma / grid[0])  # (n, K, gh), (n, K, gw)
    maps = gy[..., :, None] * gx[..., None, :] * (joints[..., 2:3, None] > 0)  # (n, K, gh, gw)
    return maps.flatten(2).transpose(1, 2)


def image_tokens(clip: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CLIP image features (n, E) and the patch tokens after ln_post (n, N, D)."""
    visual = clip.visual
    visual.output_tokens = True
    try:
        pooled, tokens = visual(images)
    finally:
        visual.output_tokens = False
    return pooled, tokens


def _param_groups(modules: list[nn.Module], wd: float) -> list[dict]:
    """Weight decay on matrices only (not on gains, biases, embeddings or the logit scale), as open_clip_train."""
    decay, plain = [], []
    for module in modules:
        for name, p in module.named_parameters():
            if not p.requires_grad:
                continue
            exclude = p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name \
                or "embedding" in name
            (plain if exclude else decay).append(p)
    return [{"params": plain, "weight_decay": 0.0}, {"params": decay, "weight_decay": wd}]


def train_dense(cfg, data: DenseData, image_size: int) -> tuple[dict[str, torch.Tensor], dict]:
    """Train a fresh `cfg.model` CLIP on `data` with the caption + joint losses.

    Returns:
        the CLIP's and the joint head's state dicts, and per-epoch figures (mean losses, held-in joint accuracy).
    """
    import open_clip
    from open_clip.loss import ClipLoss

    from pevl.pretrain.clip.model import register_configs

    register_configs()
    torch.manual_seed(cfg.seed)
    clip = open_clip.create_model(cfg.model, pretrained=None, force_image_size=image_size)
    tokenizer = open_clip.get_tokenizer(cfg.model)
    patch = clip.visual.patch_size[0] if isinstance(clip.visual.patch_size, tuple) else clip.visual.patch_size
    grid = (image_size // patch, image_size // patch)
    head = nn.Linear(clip.visual.transformer.width, data.joints.shape[1])
    loss_clip = ClipLoss()
    opt = torch.optim.AdamW(_param_groups([clip, head], cfg.wd), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)

    images = torch.from_numpy(data.images).permute(0, 3, 1, 2)  # uint8, (n, 3, S, S)
    joints = torch.from_numpy(data.joints)
    text_tokens = tokenizer(data.texts)
    n = len(images)
    steps_per_epoch = n // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    gen = torch.Generator().manual_seed(cfg.seed)
    history, step = [], 0
    clip.train()
    with progress(total=total, desc="pretrain clip (dense)", unit="step") as bar:
        for epoch in range(cfg.epochs):
            order = torch.randperm(n, generator=gen)
            sums = {"clip": 0.0, "joints": 0.0, "hit": 0.0, "visible": 0.0}
            for b in range(steps_per_epoch):
                idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                x, j = random_crops(images[idx].float() / 255.0, joints[idx], image_size, cfg.crop_scale, gen)
                pooled, tokens = image_tokens(clip, normalise(x))
                text = clip.encode_text(text_tokens[idx])
                l_clip = loss_clip(F.normalize(pooled, dim=-1), F.normalize(text, dim=-1), clip.logit_scale.exp())
                logits = head(tokens)  # (b, N, K)
                target = joint_targets(j, grid)
                l_joint = F.binary_cross_entropy_with_logits(logits, target)
                loss = l_clip + cfg.joint_weight * l_joint
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * lr_factor(step, total, cfg.warmup, 0.0)  # open_clip_train's schedule
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                with torch.no_grad():
                    clip.logit_scale.clamp_(0, math.log(100))
                    vis = j[..., 2] > 0  # (b, K)
                    hit = (logits.argmax(1) == target.argmax(1)) & vis
                sums["clip"] += l_clip.item()
                sums["joints"] += l_joint.item()
                sums["hit"] += float(hit.sum())
                sums["visible"] += float(vis.sum())
                step += 1
                bar.update(1)
                bar.set_postfix(clip=f"{l_clip.item():.2f}", joints=f"{l_joint.item():.4f}")
            history.append({"epoch": epoch + 1, "loss_clip": round(sums["clip"] / steps_per_epoch, 4),
                            "loss_joints": round(sums["joints"] / steps_per_epoch, 5),
                            "joint_patch_accuracy": round(sums["hit"] / max(1.0, sums["visible"]), 4)})
            log.info("epoch %d: %s", epoch + 1, history[-1])
    clip.eval()
    figures = {"epochs": history, "grid": list(grid)}
    return {k: v.detach().clone() for k, v in clip.state_dict().items()}, {k: v.detach().clone() for k, v in head.state_dict().items()}, figures


def pretrain_dense(cfg, work, weights) -> dict:
    """Render, train, write `weights` (fp32 state dict) and its .json record (as `train.pretrain_clip`)."""
    import json
    from pathlib import Path

    import open_clip

    from pevl.pretrain.clip.model import save_weights

    weights = Path(weights)
    start, cpu0 = time.perf_counter(), cpu_seconds()
    data = render(cfg.clips, cfg.render_seed, cfg.frames_per_clip, cfg.crop, round(cfg.image_size * RESIZE_FACTOR))
    render_s = time.perf_counter() - start
    state, head, train_figures = train_dense(cfg, data, cfg.image_size)
    digest = save_weights(state, weights)
    save_weights(head, Path(work) / "joint_head.pt")  # not shipped: for looking at what the tokens say
    record = {
        "config": cfg.model_dump(),
        "data": {"samples": len(data.texts), "clips": data.clips, "frames_per_clip": cfg.frames_per_clip,
                 "seed": cfg.render_seed, "crop": cfg.crop, "distinct_captions": data.distinct_captions,
                 "sha256": data.sha256, "storage": "in memory (rendered by the trainer)"},
        "trainer": {"package": "pevl.pretrain.clip.dense", "version": open_clip.__version__,
                    "objective": f"CLIP InfoNCE + {cfg.joint_weight} x per-patch joint BCE (sigma {JOINT_SIGMA} patch)",
                    "training": train_figures},
        "seconds": {"render": round(render_s, 1), "total": round(time.perf_counter() - start, 1),
                    "cpu": round(cpu_seconds() - cpu0, 1)},
        "weights": {"file": weights.name, "sha256": digest, "bytes": weights.stat().st_size, "dtype": "float32"},
    }
    weights.with_suffix(".json").write_text(json.dumps(record, indent=1))
    log.info("pretrained %s (dense) in %.0f s: %s", cfg.model, record["seconds"]["total"], weights)
    return record
