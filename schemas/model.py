"""Model config: the one input of `pevl.build_model`. Every ablation is one field here."""

from typing import Literal

from pydantic import Field

from schemas.base import Strict


class AdapterConfig(Strict):
    """Trainable bottleneck adapters after (or inside) each frozen encoder."""

    use_video: bool = True
    use_pose: bool = True
    use_text: bool = True
    bottleneck: int = Field(64, ge=1, description="hidden width of x + up(act(down(x)))")
    placement: Literal["after", "inside"] = "after"
    inside_blocks: int = Field(4, ge=1, description="with placement=inside: the last M blocks")


class UCMRConfig(Strict):
    """Unsymmetrical Cross-Modality Refinement (P2V-R, V2P-R, refinement supervision)."""

    use_p2v: bool = True
    use_v2p: bool = True
    use_refine_supervision: bool = True
    mask_sigma: float = Field(0.05, gt=0.0, description="Gaussian sigma of the pose mask, fraction of image side")
    group_radius: float = Field(2.0, gt=0.0, description="V2P grouping radius, in patches")
    score_threshold: float = Field(0.3, ge=0.0, le=1.0, description="joints below this score group nothing")
    temperature: float = Field(0.1, gt=0.0, description="tau_r of the NT-Xent refinement loss")
    heads: int = Field(8, ge=1)


class SGMCConfig(Strict):
    """Semantic-Guided Multi-level Contrastive module."""

    use_sgmc: bool = True
    use_s_vs: bool = True
    use_s_ps: bool = True
    use_s_fw: bool = True
    word_level: Literal["tokens", "phrases"] = "tokens"
    use_semantic_guidance: bool = True
    s_min: float = Field(0.1, ge=0.0, le=1.0, description="smallest semantic strength of a negative")
    weight_vs: float = 1.0
    weight_ps: float = 1.0
    weight_fw: float = 1.0


class ModelConfig(Strict):
    """PeVL: CLIP backbone, adapters, pose encoder, UCMR and SGMC."""

    backbone: str = Field("ViT-B-16", description="open_clip model name, or 'pevl-tiny'")
    pretrained: str | None = Field(
        "openai", description="open_clip tag, a local weights file, 'local-dir:/path', or null"
    )
    num_frames: int = Field(8, ge=1, description="T video frames per clip")
    pose_frame_ratio: int = Field(1, ge=1, description="r: Tp = r * T pose frames")
    image_size: int = Field(224, ge=16)
    num_joints: int = Field(17, ge=1)
    use_pose: bool = True
    pose_input: Literal["coords", "heatmap"] = "coords"
    adapter: AdapterConfig = AdapterConfig()
    use_adapters: bool = True
    ucmr: UCMRConfig = UCMRConfig()
    sgmc: SGMCConfig = SGMCConfig()
    lambda_ucmr: float = Field(1.0, ge=0.0)
