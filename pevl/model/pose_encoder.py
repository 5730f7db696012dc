"""Pose encoders: 2D joints through the frozen CLIP image transformer (METHOD.md section 2).

Two inputs (the paper's input ablation):
- "coords" (default): per frame, K joint tokens `Linear(3 -> D)(x, y, score)` + joint-type
  embedding + frame embedding, plus a class token, through the CLIP image blocks (shared frozen
  weights), ln_post and the pose adapter -> `J_t (1+K, D)`. Pose tokens sit at the joints.
  The embedded (x, y) are crop coordinates scaled to [-1, 1] (`coords="image"`, the paper's
  reading), or person-centred (`coords="person"`, see `person_coords`), the usual skeleton
  normalisation of pose-based recognition: the body's shape and rotation then dominate the input
  instead of where the body is in the frame. UCMR always gets the crop positions.
- "heatmap": the K joints rendered as Gaussian heatmaps into a 3-channel image (head, left and
  right joints), CLIP-normalised, through the ordinary patch path -> `J_t (1+N, D)`. Pose tokens
  then sit at the patch centres with the heatmap's peak in that patch as their confidence, so
  P2V-R and V2P-R work unchanged (each visual patch groups with its co-located heat patch).

Frame alignment [seed: "downsample the pose tensor to match the video"]: the Tp = r*T pose
frames come in T groups of r consecutive frames, group t belonging to video frame t, which shows
the group's first frame. "pool" encodes all Tp frames and averages the tokens of each group, while
the joint positions and scores UCMR places on frame t are those of the first frame (the one the
video shows); "pick" encodes the first frame of each group only.
"""

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from pevl.clip_norm import CLIP_MEAN, CLIP_STD
from pevl.model.adapters import AdapterStack
from pevl.model.backbone import embed_patches, encode_tokens
from pevl.model.geometry import gaussian_profiles, patch_centres

# COCO-17 joint -> heatmap channel: head (nose, eyes, ears), left side, right side.
COCO_CHANNELS = (0, 0, 0, 0, 0, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2)


@dataclass
class PoseTokens:
    """Encoded pose of a clip, aligned to the T video frames.

    tokens: (B, T, 1 + K, D) class token first; xy: (B, T, K, 2) positions of the K pose tokens
    in [0, 1] image coordinates; score: (B, T, K) their confidence in [0, 1].
    """

    tokens: torch.Tensor
    xy: torch.Tensor
    score: torch.Tensor


def split_frames(pose: torch.Tensor, num_frames: int) -> int:
    """Check Tp = r * T and return r.

    Args:
        pose: (B, Tp, K, 3).
    """
    tp = pose.shape[1]
    if tp % num_frames:
        raise ValueError(f"pose has {tp} frames, not a multiple of the {num_frames} video frames")
    return tp // num_frames


def pool_groups(tokens: torch.Tensor, xy: torch.Tensor, score: torch.Tensor, num_frames: int) -> PoseTokens:
    """Average the tokens of each group of r pose frames; keep the positions of its first frame.

    Video frame t shows the first pose frame of group t (`pevl.data.transforms.aligned_indices`),
    so the positions and scores UCMR uses to place joints on that frame are that pose frame's,
    not the group's mean (a moving joint's mean sits where the frame does not show it).

    Args:
        tokens: (B, Tq, 1 + K, D); xy: (B, Tq, K, 2); score: (B, Tq, K), Tq = r * T.
    """
    r = tokens.shape[1] // num_frames
    if r == 1:
        return PoseTokens(tokens, xy, score)
    tokens = tokens.unflatten(1, (num_frames, r)).mean(2)  # (B, T, 1+K, D)
    return PoseTokens(tokens, xy[:, ::r], score[:, ::r])


def person_coords(xy: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """Person-centred joint coordinates: each frame's score-weighted joint centre removed, divided by
    the clip's score-weighted RMS joint distance from those centres.

    One scale per clip keeps a tucked body smaller than a straight one; a frame without visible
    joints is centred on the image centre.

    Args:
        xy: (B, T, K, 2) in [0, 1]; score: (B, T, K) in [0, 1].
    Returns:
        (B, T, K, 2), RMS about 1 over the clip's visible joints.
    """
    w = score.unsqueeze(-1)
    mass = w.sum(2, keepdim=True)  # (B, T, 1, 1)
    centre = torch.where(mass > 0, (xy * w).sum(2, keepdim=True) / mass.clamp_min(1e-6), torch.full_like(mass, 0.5))
    rel = xy - centre
    var = (w * rel.square()).sum((1, 2, 3), keepdim=True) / w.sum((1, 2, 3), keepdim=True).clamp_min(1e-6)
    return rel / var.sqrt().clamp_min(1e-3)


def select_frames(pose: torch.Tensor, num_frames: int, align: Literal["pool", "pick"]) -> torch.Tensor:
    """The pose frames to encode: all of them ("pool") or the first of each group ("pick").

    Args:
        pose: (B, Tp, K, 3).
    Returns:
        (B, Tq, K, 3), Tq = Tp or T.
    """
    r = split_frames(pose, num_frames)
    return pose[:, ::r] if align == "pick" else pose


class CoordPoseEncoder(nn.Module):
    """Joint coordinates as tokens through the frozen CLIP image blocks (module doc).

    Args:
        width: D of the image transformer.
        num_joints: K.
        num_frames: T video frames.
        frame_ratio: r (Tp = r * T).
        align: "pool" or "pick".
        cls_init: (D,) initial class token (CLIP's class embedding + its position).
        adapters: the pose adapters, or None.
        coords: "image" or "person" (module doc).
        temporal: a temporal tower over the Tq encoded frames (each joint attends over its own
            sequence, `temporal_aim.py` / `st_adapter.py`), or None (frames one by one).
    """

    def __init__(
        self,
        width: int,
        num_joints: int,
        num_frames: int,
        frame_ratio: int,
        align: Literal["pool", "pick"],
        cls_init: torch.Tensor,
        adapters: AdapterStack | None,
        coords: Literal["image", "person"] = "image",
        temporal: nn.Module | None = None,
    ):
        super().__init__()
        self.num_frames = num_frames
        self.align = align
        self.coords = coords
        encoded = num_frames * frame_ratio if align == "pool" else num_frames
        self.coord = nn.Linear(3, width)
        self.joint_embed = nn.Parameter(torch.randn(num_joints, width) * 0.02)
        self.frame_embed = nn.Parameter(torch.randn(encoded, width) * 0.02)
        self.cls_token = nn.Parameter(cls_init.detach().clone())
        self.adapters = adapters
        self.temporal = temporal

    def forward(self, pose: torch.Tensor, visual: nn.Module) -> PoseTokens:
        """Encode the pose of a clip.

        Args:
            pose: (B, Tp, K, 3) x, y in [0, 1] of the video crop, score in [0, 1] (0 = missing).
            visual: the frozen open_clip VisionTransformer.
        """
        p = select_frames(pose, self.num_frames, self.align)  # (B, Tq, K, 3)
        b, tq, k = p.shape[:3]
        if tq != self.frame_embed.shape[0] or k != self.joint_embed.shape[0]:
            raise ValueError(f"pose has {tuple(pose.shape[1:3])} frames x joints; the model was built for "
                             f"{self.frame_embed.shape[0]} encoded frames of {self.joint_embed.shape[0]} joints")
        score = p[..., 2]
        # centre coordinates; a missing joint carries no position, only its type embedding
        xy = person_coords(p[..., :2], score) if self.coords == "person" else p[..., :2] * 2.0 - 1.0
        xy = xy * (score > 0).unsqueeze(-1).to(p.dtype)
        x = self.coord(torch.cat([xy, score.unsqueeze(-1)], dim=-1))  # (B, Tq, K, D)
        x = x + self.joint_embed + self.frame_embed[:, None]
        cls = self.cls_token.to(x.dtype).expand(b, tq, 1, -1)
        x = torch.cat([cls, x], dim=2).flatten(0, 1)  # (B*Tq, 1+K, D)
        x = encode_tokens(visual, visual.ln_pre(x), self.adapters, self.temporal).unflatten(0, (b, tq))
        return pool_groups(x, p[..., :2], score, self.num_frames)


def render_heatmaps(pose: torch.Tensor, size: tuple[int, int], sigma: float) -> torch.Tensor:
    """Render joints as Gaussians (peak = score) into 3 channels: head, left, right joints.

    Overlapping joints add up, clipped to 1; the Gaussian is separable, so no (K, H, W) tensor.

    Args:
        pose: (n, K, 3) x, y in [0, 1], score.
        size: (H, W).
        sigma: Gaussian sigma as a fraction of the image side.
    Returns:
        (n, 3, H, W) in [0, 1].
    """
    k = pose.shape[1]
    gy, gx = gaussian_profiles(pose[..., :2], size, sigma)  # (n, K, H), (n, K, W)
    channels = COCO_CHANNELS if k == len(COCO_CHANNELS) else tuple(i % 3 for i in range(k))
    onehot = torch.zeros(k, 3, device=pose.device, dtype=pose.dtype)
    onehot[torch.arange(k, device=pose.device), torch.tensor(channels, device=pose.device)] = 1.0
    heat = torch.einsum("nk,kc,nkh,nkw->nchw", pose[..., 2], onehot, gy, gx)
    return heat.clamp(max=1.0)


class HeatmapPoseEncoder(nn.Module):
    """Rendered joint heatmaps through the CLIP patch path (module doc).

    Args:
        num_frames: T video frames.
        align: "pool" or "pick".
        sigma: heatmap Gaussian sigma, fraction of the image side.
        adapters: the pose adapters, or None.
        temporal: a temporal tower over the Tq encoded frames (patch positions across frames), or None.
    """

    def __init__(
        self, num_frames: int, align: Literal["pool", "pick"], sigma: float, adapters: AdapterStack | None,
        temporal: nn.Module | None = None,
    ):
        super().__init__()
        self.num_frames = num_frames
        self.align = align
        self.sigma = sigma
        self.adapters = adapters
        self.temporal = temporal
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(3, 1, 1), persistent=False)

    def forward(self, pose: torch.Tensor, visual: nn.Module) -> PoseTokens:
        """Encode the pose of a clip.

        Args:
            pose: (B, Tp, K, 3) x, y in [0, 1], score in [0, 1].
            visual: the frozen open_clip VisionTransformer.
        """
        p = select_frames(pose, self.num_frames, self.align)  # (B, Tq, K, 3)
        b, tq = p.shape[:2]
        gh, gw = visual.grid_size
        heat = render_heatmaps(p.flatten(0, 1).float(), tuple(visual.image_size), self.sigma)  # (n, 3, H, W)
        x = embed_patches(visual, ((heat - self.mean) / self.std).to(p.dtype))
        x = encode_tokens(visual, x, self.adapters, self.temporal).unflatten(0, (b, tq))  # (B, Tq, 1+N, D)
        peak = heat.amax(1, keepdim=True)  # (n, 1, H, W)
        score = nn.functional.adaptive_max_pool2d(peak, (gh, gw)).flatten(1).unflatten(0, (b, tq))
        xy = patch_centres((gh, gw)).to(x.device, x.dtype).expand(b, tq, gh * gw, 2)
        return pool_groups(x, xy, score.to(x.dtype), self.num_frames)
