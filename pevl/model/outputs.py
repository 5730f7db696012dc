"""The one output type of `PeVL.forward`."""

from dataclasses import dataclass, field

import torch


@dataclass
class PeVLOutput:
    """Scores and the features the losses need; a field is None when its part is switched off.

    logits: (B, C) `logit_scale * S(x, c)`, the combined score used for training and inference.
    score: (B, C) the unscaled combined score S.
    scores: per-term unscaled scores ("vs", "ps", "fw"), each (B, C).
    logit_scale: () the temperature 1 / tau (exp of the learnable log scale, at most 100).
    video, pose: (B, E) normalised clip features V and P.
    pose_frames: (B, T, E) normalised per-frame pose features F.
    refine_pairs: modality -> (before, after) UCMR features pooled over tokens and frames, (B, D).
    text_distance: (C, C) `1 - cos` of the class sentences (None without text).
    pose_mask: (B, T, N) P2V weighted pose mask per patch, in [0, 1].
    groups: (B, T, N) V2P group of each patch (joint index; K = background).
    """

    logits: torch.Tensor
    score: torch.Tensor
    scores: dict[str, torch.Tensor]
    logit_scale: torch.Tensor
    video: torch.Tensor | None = None
    pose: torch.Tensor | None = None
    pose_frames: torch.Tensor | None = None
    refine_pairs: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    text_distance: torch.Tensor | None = None
    pose_mask: torch.Tensor | None = None
    groups: torch.Tensor | None = None
