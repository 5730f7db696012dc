"""Parameter counts per submodule and GFLOPs per clip of a PeVL model (`pevl model-info`).

FLOPs come from torch's FlopCounterMode on one clip (batch 1), without gradients: every matmul,
convolution and attention op, counted as 2 FLOPs per multiply-add. torch's counter has no formula
for the CPU kernel of `scaled_dot_product_attention` (it would count the attention of every block
as 0); `SDPA_CPU` adds the standard one. The clip cost is also given at other clip lengths
(`flop_frames`, default 8 and 16 frames), each from a model built for that many frames. Many papers (fvcore) quote
multiply-adds as "FLOPs"; `gmacs` gives that figure. The class text features are cached at build
time, so a clip's cost excludes the frozen text transformer (it runs once, not per clip); what
remains of the text side (adapted blocks, projection) runs once per batch, not per clip. The
frozen image tower is shared: its FLOPs are counted under the encoder that calls it (video or
pose), so the per-submodule column reads as "the cost of this path".
"""

import logging
from dataclasses import dataclass, field

from schemas import ClassText, ModelConfig

log = logging.getLogger(__name__)


@dataclass
class ParamRow:
    """Parameters of one submodule (dotted name; depth 0 = a child of PeVL)."""

    name: str
    total: int
    trainable: int
    depth: int = 0


@dataclass
class ModelInfo:
    """What `pevl model-info` reports."""

    backbone: str
    num_frames: int
    image_size: int
    num_classes: int
    rows: list[ParamRow] = field(default_factory=list)
    total: int = 0
    trainable: int = 0
    gflops: float | None = None
    flops_by_module: dict[str, float] = field(default_factory=dict)
    gflops_by_frames: dict[int, float] = field(default_factory=dict)

    @property
    def gmacs(self) -> float | None:
        """Multiply-adds per clip, in G (fvcore's "GFLOPs")."""
        return None if self.gflops is None else self.gflops / 2


def placeholder_classes(num_classes: int) -> list[ClassText]:
    """Generic class texts, for counting without a dataset index (the counts do not depend on them)."""
    return [
        ClassText(
            label=i, name=f"class{i}", text=f"a person performs action number {i} with a turn and a jump",
            phrases=[f"action {i}", "a turn", "a jump"],
        )
        for i in range(num_classes)
    ]


def parameter_rows(model) -> list[ParamRow]:
    """Total and trainable parameters of each child of the model and of its trainable children."""
    rows = []
    for name, child in model.named_children():
        params = list(child.parameters())
        trainable = sum(p.numel() for p in params if p.requires_grad)
        rows.append(ParamRow(name, sum(p.numel() for p in params), trainable))
        if not trainable:
            continue
        for sub, grand in child.named_children():
            gp = list(grand.parameters())
            if gp:
                rows.append(ParamRow(f"{name}.{sub}", sum(p.numel() for p in gp),
                                     sum(p.numel() for p in gp if p.requires_grad), depth=1))
    for name, p in model.named_parameters(recurse=False):
        rows.append(ParamRow(name, p.numel(), p.numel() if p.requires_grad else 0))
    return rows


def _sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of one SDPA call from its shapes (torch's formula for the GPU kernels)."""
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query_shape, key_shape, value_shape)


def clip_flops(model, cfg: ModelConfig) -> tuple[float, dict[str, float]]:
    """FLOPs of one clip's forward pass, total and per child module, in G."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    video = torch.zeros(1, cfg.num_frames, 3, cfg.image_size, cfg.image_size)
    pose = torch.rand(1, cfg.num_frames * cfg.pose_frame_ratio, cfg.num_joints, 3)
    # train mode: in eval mode nn.MultiheadAttention takes a fused fast path that the counter
    # does not see (it would miss every attention op of the CLIP blocks); PeVL has no dropout
    model.train()
    sdpa_cpu = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_flops}
    counter = FlopCounterMode(display=False, depth=2, custom_mapping=sdpa_cpu)
    with torch.no_grad(), counter:
        model(video, pose)
    model.eval()
    by_module = {}
    for name, counts in counter.get_flop_counts().items():
        parts = name.split(".")
        if len(parts) == 2:  # "PeVL.<child>"
            by_module[parts[1]] = sum(counts.values()) / 1e9
    return counter.get_total_flops() / 1e9, by_module


def model_info(
    cfg: ModelConfig, num_classes: int = 48, flops: bool = True, flop_frames: tuple[int, ...] = (8, 16),
) -> ModelInfo:
    """Build the model of `cfg` with placeholder classes and measure it (FLOPs also at `flop_frames`)."""
    from pevl.model import build_model

    classes = placeholder_classes(num_classes)
    model = build_model(cfg, classes)
    info = ModelInfo(cfg.backbone, cfg.num_frames, cfg.image_size, num_classes, parameter_rows(model))
    info.total = sum(p.numel() for p in model.parameters())
    info.trainable = sum(p.numel() for p in model.trainable_parameters())
    if not flops:
        return info
    info.gflops, info.flops_by_module = clip_flops(model, cfg)
    info.gflops_by_frames[cfg.num_frames] = info.gflops
    del model
    for t in flop_frames:
        if t not in info.gflops_by_frames:
            other = cfg.model_copy(update={"num_frames": t})
            info.gflops_by_frames[t] = clip_flops(build_model(other, classes), other)[0]
    return info


def format_info(info: ModelInfo) -> list[str]:
    """The report as text lines (a table of parameters, then the FLOPs)."""
    lines = [
        f"PeVL {info.backbone}, {info.num_frames} frames x {info.image_size} px, {info.num_classes} classes",
        f"{'submodule':<34}{'total':>14}{'trainable':>14}{'GFLOPs/clip':>14}",
    ]
    for r in info.rows:
        gf = info.flops_by_module.get(r.name)
        gf_text = f"{gf:14.2f}" if gf is not None and r.depth == 0 else " " * 14
        lines.append(f"{'  ' * r.depth + r.name:<34}{r.total:>14,}{r.trainable:>14,}{gf_text}")
    total_gf = f"{info.gflops:14.2f}" if info.gflops is not None else ""
    lines.append(f"{'total':<34}{info.total:>14,}{info.trainable:>14,}{total_gf}")
    summary = f"trainable: {info.trainable / 1e6:.2f} M of {info.total / 1e6:.2f} M parameters"
    if info.gflops is not None:
        summary += (f"; {info.gflops:.1f} GFLOPs per clip ({info.gmacs:.1f} GMACs, fvcore-style 'GFLOPs'; "
                    "the text part runs once per batch)")
    lines.append(summary)
    if len(info.gflops_by_frames) > 1:
        lines.append("GFLOPs per clip by frames: " + ", ".join(
            f"{t} frames {g:.1f} ({g / 2:.1f} GMACs)" for t, g in sorted(info.gflops_by_frames.items())))
    return lines
