"""CLIP normalisation of RGB images in [0, 1] (OpenAI's dataset statistics).

A leaf module (no model imports; torch only inside `normalise`) so data loading, the model and the
CLIP pretraining share it.
"""

from typing import Any

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def normalise(images: Any) -> Any:
    """CLIP-normalise a float tensor of images in [0, 1], channels third from last: (..., 3, H, W)."""
    import torch

    mean = torch.tensor(CLIP_MEAN, device=images.device).view(3, 1, 1)
    std = torch.tensor(CLIP_STD, device=images.device).view(3, 1, 1)
    return (images - mean) / std
