"""PeVL meta-architecture: encoders -> UCMR -> clip features -> SGMC scores (METHOD.md)."""

import math

import torch
from torch import nn
from torch.nn import functional as F

from pevl.model.backbone import project
from pevl.model.outputs import PeVLOutput
from pevl.model.pose_encoder import CoordPoseEncoder, HeatmapPoseEncoder
from pevl.model.sgmc import ScoreHead
from pevl.model.text_encoder import ClassEmbedding, TextEncoder
from pevl.model.ucmr import UCMR, Refined
from pevl.model.video_encoder import VideoEncoder

MAX_LOGIT_SCALE = math.log(100.0)  # CLIP's cap of 1 / tau, applied after each optimizer step


class PeVL(nn.Module):
    """Pose-enhanced vision-language model; a submodule that is None is switched off.

    Clip features [METHOD.md section 4]: V = projection of the frame-mean of the refined video
    class token; P = projection of the frame-mean of the refined pose class token; F = the
    per-frame projected pose class tokens. All L2-normalised; the projection is CLIP's frozen image
    projection (the adapters before it are trainable).

    Args:
        visual: the frozen open_clip VisionTransformer, shared by the video and pose encoders.
        video_encoder: video adapters, or None without the video modality.
        pose_encoder: coordinate or heatmap pose encoder, or None without the pose modality.
        text_encoder: class text features (or learned class embeddings without text).
        ucmr: P2V-R / V2P-R, or None.
        score_head: the enabled SGMC scores.
        logit_scale: initial log(1 / tau), usually CLIP's (capped at log(100)).
        video_readout, pose_readout: `TokenReadout`s replacing the class token (model.readout=tokens).
    """

    def __init__(
        self,
        visual: nn.Module,
        video_encoder: VideoEncoder | None,
        pose_encoder: CoordPoseEncoder | HeatmapPoseEncoder | None,
        text_encoder: TextEncoder | ClassEmbedding,
        ucmr: UCMR | None,
        score_head: ScoreHead,
        logit_scale: float,
        video_readout: nn.Module | None = None,
        pose_readout: nn.Module | None = None,
    ):
        super().__init__()
        self.visual = visual
        self.video_encoder = video_encoder
        self.pose_encoder = pose_encoder
        self.text_encoder = text_encoder
        self.ucmr = ucmr
        self.score_head = score_head
        self.logit_scale = nn.Parameter(torch.tensor(min(float(logit_scale), MAX_LOGIT_SCALE)))
        self.video_readout = video_readout
        self.pose_readout = pose_readout

    @staticmethod
    def _readout(tokens: torch.Tensor, readout: nn.Module | None) -> torch.Tensor:
        """Per-frame features (B, T, D) of tokens (B, T, 1+L, D): the class token, or the readout."""
        return tokens[:, :, 0] if readout is None else readout(tokens)

    def _features(self, cls: torch.Tensor) -> torch.Tensor:
        """Project and normalise class tokens in float32 (also under autocast): (..., D) -> (..., E)."""
        with torch.autocast(cls.device.type, enabled=False):
            return F.normalize(project(self.visual, cls.float()), dim=-1)

    def forward(self, video: torch.Tensor | None, pose: torch.Tensor | None) -> PeVLOutput:
        """Score a batch of clips against every class.

        Args:
            video: (B, T, 3, H, W) CLIP-normalised (may be None without the video modality).
            pose: (B, Tp, K, 3) x, y in [0, 1] of the video crop, score in [0, 1]; missing joint =
                score 0 (may be None without the pose modality).
        """
        x = self.video_encoder(video, self.visual) if self.video_encoder is not None else None
        j = self.pose_encoder(pose, self.visual) if self.pose_encoder is not None else None
        refined = self.ucmr(x, j) if self.ucmr is not None else Refined(video=x, pose=j)
        v = p = f = None
        if refined.video is not None:
            v = self._features(self._readout(refined.video, self.video_readout).mean(1))  # (B, E)
        if refined.pose is not None:
            cls = self._readout(refined.pose.tokens, self.pose_readout)  # (B, T, D)
            p, f = self._features(cls.mean(1)), self._features(cls)
        text = self.text_encoder()
        score, scores = self.score_head(v, p, f, text)  # float32
        # no clamp here (its gradient is 0 at the cap): training clamps after each optimizer step
        scale = self.logit_scale.float().exp()
        return PeVLOutput(
            logits=scale * score, score=score, scores=scores, logit_scale=scale,
            video=v, pose=p, pose_frames=f, refine_pairs=refined.pairs,
            text_distance=self.text_encoder.class_distance,
            pose_mask=refined.pose_mask, groups=refined.groups,
        )

    @torch.no_grad()
    def predict(self, video: torch.Tensor | None, pose: torch.Tensor | None) -> torch.Tensor:
        """Class scores (the scaled combined score S) without gradients.

        Args:
            video: (B, T, 3, H, W); pose: (B, Tp, K, 3) (see forward).
        Returns:
            (B, C).
        """
        return self.forward(video, pose).logits

    @torch.no_grad()
    def clamp_logit_scale(self) -> None:
        """Clamp the log logit scale to at most log(100) in place (open_clip's way, after each step)."""
        self.logit_scale.clamp_(max=MAX_LOGIT_SCALE)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The parameters training updates: adapters, new modules and the logit scale."""
        return [p for p in self.parameters() if p.requires_grad]
