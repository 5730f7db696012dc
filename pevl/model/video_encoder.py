"""Video encoder: the frames of a clip through the frozen CLIP image tower, its temporal tower and adapter."""

import torch
from torch import nn

from pevl.model.adapters import AdapterStack
from pevl.model.backbone import embed_patches, encode_tokens


class VideoEncoder(nn.Module):
    """Per-frame CLS + patch tokens `X_t (1+N, D)`; trainable: the temporal tower and the adapter.

    The frozen image tower is passed in at call time because the pose encoder shares it
    (one copy of its weights in the model and its state dict).

    Args:
        adapters: the video adapters, or None (ablation).
        temporal: an AIM or ST-Adapter tower running the frozen blocks over whole clips, or None
            (`temporal.kind: none`, every frame on its own: order-blind).
    """

    def __init__(self, adapters: AdapterStack | None, temporal: nn.Module | None = None):
        super().__init__()
        self.adapters = adapters
        self.temporal = temporal

    def forward(self, video: torch.Tensor, visual: nn.Module) -> torch.Tensor:
        """Encode a clip.

        Args:
            video: (B, T, 3, H, W) CLIP-normalised.
            visual: the frozen open_clip VisionTransformer.
        Returns:
            (B, T, 1 + N, D).
        """
        b, t = video.shape[:2]
        expected = tuple(visual.image_size)
        if tuple(video.shape[-2:]) != expected:
            raise ValueError(f"video frames are {tuple(video.shape[-2:])}, the model expects {expected}")
        x = embed_patches(visual, video.flatten(0, 1))  # (B*T, 1+N, D)
        x = encode_tokens(visual, x, self.adapters, self.temporal)
        return x.unflatten(0, (b, t))  # (B, T, 1+N, D)
