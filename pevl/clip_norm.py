"""CLIP normalisation of RGB images in [0, 1] (OpenAI's dataset statistics).

A leaf module (no torch, no model imports) so data loading and the model share it.
"""

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
