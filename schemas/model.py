"""Model config: the one input of `pevl.model.build_model`. Every ablation is one field here.

Defaults are the full PeVL of METHOD.md. A switch that is off removes its submodule, so the
state dict of a built model shows the ablation.
"""

from typing import Literal

from pydantic import Field, model_validator

from schemas.base import Strict


class AdapterConfig(Strict):
    """Trainable bottleneck adapters `x + up(act(down(x)))` after (or inside) each frozen encoder."""

    use_video: bool = Field(True, description="adapter on the video encoder")
    use_pose: bool = Field(True, description="adapter on the pose encoder")
    use_text: bool = Field(True, description="adapter on the text encoder")
    bottleneck: int = Field(64, ge=1, description="hidden width of x + up(act(down(x)))")
    placement: Literal["after", "inside"] = Field(
        "after", description="after the encoder's output, or after each of its last M blocks (serial; with a "
        "temporal tower, after its blocks)"
    )
    inside_blocks: int = Field(4, ge=1, description="with placement=inside: the last M blocks")


class TemporalConfig(Strict):
    """Temporal adaptation of the frozen image tower (METHOD.md section 2b): tokens meet across frames.

    Built only where that encoder's adapters are on (`use_adapters` and `adapter.use_video` /
    `adapter.use_pose`); `kind: none` removes it (today's order-blind reading, an ablation row).
    """

    kind: Literal["aim", "st_adapter", "none"] = Field(
        "aim",
        description="aim: temporal attention with the frozen weights + S/T/joint adapters in every block "
        "(Yang et al. 2023); st_adapter: depthwise 3D-conv bottleneck before every block (Pan et al. 2022); "
        "none: frames encoded one by one (pose joint tokens keep their learned frame embedding)",
    )
    ratio: float = Field(
        0.667, gt=0.0, le=4.0, description="bottleneck width / D of the video tower's temporal adapters"
    )
    use_pose: bool = Field(True, description="the same kind in the blocks the pose path runs through")
    pose_ratio: float = Field(0.15, gt=0.0, le=4.0, description="bottleneck width / D on the pose path")
    joint_scale: float = Field(0.5, ge=0.0, description="aim: weight s of the joint adapter beside the MLP")
    kernel_t: int = Field(3, ge=1, description="st_adapter: temporal kernel size (odd)")
    kernel_s: int = Field(1, ge=1, description="st_adapter: spatial kernel size on the video patch grid (odd)")
    use_checkpoint: bool = Field(
        False, description="gradient checkpointing of every adapted block (ViT-L/14 activation memory)"
    )

    @model_validator(mode="after")
    def _odd_kernels(self) -> "TemporalConfig":
        if self.kernel_t % 2 == 0 or self.kernel_s % 2 == 0:
            raise ValueError(f"kernel_t and kernel_s must be odd, got {self.kernel_t} and {self.kernel_s}")
        return self


class UCMRConfig(Strict):
    """Unsymmetrical Cross-Modality Refinement (P2V-R, V2P-R, refinement supervision)."""

    use_ucmr: bool = Field(True, description="master switch: off removes P2V-R, V2P-R and their loss")
    use_p2v: bool = Field(True, description="pose-guided visual refinement")
    use_v2p: bool = Field(True, description="visual-enriched pose refinement")
    use_refine_supervision: bool = Field(True, description="NT-Xent between features before/after refinement")
    mask_sigma: float = Field(0.05, gt=0.0, description="Gaussian sigma of the pose mask, fraction of image side")
    mask_samples: int = Field(
        4, ge=1, description="P2V mask samples per patch side (the mask is averaged over each patch)"
    )
    mask_eps: float = Field(1e-3, gt=0.0, description="eps of the attention bias beta * log(m + eps)")
    group_radius: float = Field(2.0, gt=0.0, description="V2P grouping radius, in patches")
    score_threshold: float = Field(0.3, ge=0.0, le=1.0, description="joints below this score group nothing")
    temperature: float = Field(0.1, gt=0.0, description="tau_r of the NT-Xent refinement loss")
    use_stop_gradient: bool = Field(
        False, description="NT-Xent refinement loss: no gradient through the unrefined view (pooled X and J)"
    )
    heads: int = Field(8, ge=1, description="attention heads of the P2V / V2P layers")
    v2p_cls_keys: Literal["all", "video_cls", "none"] = Field(
        "all", description="V2P-R: the pose class token attends to every visual token, only the frame's visual "
        "class token, or nothing [inferred]"
    )
    use_v2p_mix: bool = Field(
        True, description="V2P-R: self-attention over the refined pose tokens (class, joints, background) [inferred]"
    )
    order: Literal["parallel", "p2v_first", "v2p_first"] = Field(
        "parallel", description="P2V-R and V2P-R both read the unrefined tokens, or one reads the other's output "
        "[inferred]"
    )


class SGMCConfig(Strict):
    """Semantic-Guided Multi-level Contrastive module."""

    use_sgmc: bool = Field(
        True, description="off: plain cross-entropy over S_VS (+ S_PS), no S_FW, no vp2t/t2vp"
    )
    use_s_vs: bool = Field(True, description="action-level video-sentence score")
    use_s_ps: bool = Field(True, description="action-level pose-sentence score")
    use_s_fw: bool = Field(True, description="sub-action frame-word score (needs SGMC, pose and text)")
    word_level: Literal["tokens", "phrases"] = Field(
        "tokens", description="W = the sentence's token embeddings, or the sub-action phrase embeddings"
    )
    word_reduce: Literal["max_mean", "mean"] = Field(
        "max_mean", description="S_FW reduction: 1/2 (mean_t max_l + mean_l max_t), or the plain mean"
    )
    use_semantic_guidance: bool = Field(True, description="weight negatives by semantic strength s_i")
    s_min: float = Field(0.1, ge=0.0, le=1.0, description="smallest semantic strength of a negative")
    weight_vs: float = Field(
        1.0, ge=0.0, description="a_VS in S = (a_VS S_VS + a_PS S_PS + a_FW S_FW) / (sum of the active a)"
    )
    weight_ps: float = Field(1.0, ge=0.0, description="a_PS")
    weight_fw: float = Field(1.0, ge=0.0, description="a_FW")


class ModelConfig(Strict):
    """PeVL: CLIP backbone, adapters, pose encoder, UCMR and SGMC."""

    backbone: str = Field("ViT-B-16", description="open_clip model name (ViT), or 'pevl-tiny'")
    pretrained: str | None = Field(
        "openai", description="open_clip tag, a local weights file or folder, 'local-dir:/path', 'builtin:<path>' (shipped "
        "under pevl/assets/models/), or null"
    )
    num_frames: int = Field(8, ge=1, description="T video frames per clip")
    pose_frame_ratio: int = Field(1, ge=1, description="r: Tp = r * T pose frames")
    pose_align: Literal["pool", "pick"] = Field(
        "pool", description="pose frames -> video frames: mean of each group of r (UCMR places the joints of the "
        "group's first frame, the one the video shows), or its first frame"
    )
    image_size: int = Field(224, ge=16)
    num_joints: int = Field(17, ge=1)
    use_video: bool = Field(True, description="the video modality (V)")
    use_pose: bool = Field(True, description="the pose modality (P)")
    use_text: bool = Field(True, description="the language modality (L); off: learned class embeddings")
    text_centre: bool = Field(
        False,
        description="class sentence features minus their mean over the classes, renormalised (for small text "
        "towers that map one-template class sentences into a narrow cone; pevl/model/text_encoder.py)",
    )
    pose_input: Literal["coords", "heatmap"] = Field(
        "coords", description="joints as coordinate tokens, or rendered heatmaps through the patch path"
    )
    pose_coords: Literal["image", "person"] = Field(
        "image",
        description="coordinates the joint tokens embed (pose_input=coords): x, y of the video crop (paper), or "
        "person-centred (each frame's joint centre removed, divided by the clip's joint spread); UCMR always uses "
        "crop positions",
    )
    readout: Literal["cls", "tokens"] = Field(
        "cls",
        description="per-frame feature: the class token (paper), or a learned linear map of all the frame's "
        "tokens initialised to the class token (for randomly initialised demo backbones; pevl/model/readout.py)",
    )
    heatmap_sigma: float = Field(0.03, gt=0.0, description="joint Gaussian sigma of pose_input=heatmap")
    adapter: AdapterConfig = AdapterConfig()
    temporal: TemporalConfig = TemporalConfig()
    use_adapters: bool = Field(True, description="master switch of every adapter")
    ucmr: UCMRConfig = UCMRConfig()
    sgmc: SGMCConfig = SGMCConfig()
    lambda_ucmr: float = Field(1.0, ge=0.0, description="L = L_SGMC + lambda_ucmr * L_UCMR")

    @model_validator(mode="after")
    def _some_score(self) -> "ModelConfig":
        if not (self.use_video or self.use_pose):
            raise ValueError("use_video and use_pose are both false: the model sees no input")
        if not active_scores(self):
            raise ValueError(
                "no class score is active: enable sgmc.use_s_vs (with use_video), sgmc.use_s_ps "
                "(with use_pose) or sgmc.use_s_fw (with use_pose, use_text and sgmc.use_sgmc)"
            )
        if sum(active_scores(self).values()) <= 0:
            raise ValueError(f"the active scores {sorted(active_scores(self))} all have weight 0 (sgmc.weight_*)")
        return self


def active_scores(cfg: ModelConfig) -> dict[str, float]:
    """The score terms the model computes, name -> weight ('vs', 'ps', 'fw')."""
    s = cfg.sgmc
    terms: dict[str, float] = {}
    if s.use_s_vs and cfg.use_video:
        terms["vs"] = s.weight_vs
    if s.use_s_ps and cfg.use_pose:
        terms["ps"] = s.weight_ps
    if s.use_s_fw and s.use_sgmc and cfg.use_pose and cfg.use_text:
        terms["fw"] = s.weight_fw
    return terms
