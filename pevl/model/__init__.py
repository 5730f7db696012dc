"""The PeVL model: frozen open_clip encoders with adapters, UCMR and SGMC (METHOD.md).

Public API: `build_model(cfg, classes) -> PeVL`, `PeVL.forward(video, pose) -> PeVLOutput`,
`PeVL.predict(video, pose) -> (B, C)`, and the CLIP normalisation `CLIP_MEAN`, `CLIP_STD`.
open_clip is imported only when a model is built.
"""

from pevl.clip_norm import CLIP_MEAN, CLIP_STD
from pevl.model.build import build_model
from pevl.model.outputs import PeVLOutput
from pevl.model.pevl import PeVL

__all__ = ["CLIP_MEAN", "CLIP_STD", "PeVL", "PeVLOutput", "build_model"]
