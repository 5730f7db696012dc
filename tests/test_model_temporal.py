"""Temporal adaptation (METHOD.md section 2b): frame order reaches the logits, the switches remove their
submodules, a tiny model learns the direction of motion, checkpointing keeps the gradients."""

import pytest
import torch
from tiny_model import ROOT, assert_switch_removes, one_thread, tiny_batch, tiny_cfg, tiny_classes  # noqa: F401 (autouse fixture)

from pevl.model import build_model
from pevl.model.temporal import frozen_attention
from schemas import load_config

KINDS = ["aim", "st_adapter"]


def build(overrides: dict | None = None, seed: int = 0, classes: int = 4):
    torch.manual_seed(seed)
    cfg = tiny_cfg({"model.num_frames": 4, **(overrides or {})})
    return cfg, build_model(cfg, tiny_classes(classes))


def perturb(model: torch.nn.Module, scale: float = 0.05) -> None:
    """Make every trainable parameter non-zero (zero-initialised up-projections would hide the towers)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.trainable_parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)


def reversal_change(model: torch.nn.Module, cfg) -> float:
    """Largest change of the logits when the clip (video and pose) plays backwards, relative to their size."""
    video, pose, _ = tiny_batch(cfg, batch=2)
    with torch.no_grad():
        a = model(video, pose).logits
        b = model(video.flip(1), pose.flip(1)).logits
    return float((a - b).abs().max() / a.abs().max())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("use_pose", [False, True], ids=["video-only", "full"])
def test_reversing_the_frames_changes_the_logits(kind, use_pose):
    cfg, model = build({"model.temporal.kind": kind, "model.use_pose": use_pose})
    perturb(model)
    assert reversal_change(model, cfg) > 1e-3


def test_kind_none_is_order_blind():
    cfg, model = build({"model.temporal.kind": "none", "model.use_pose": False})
    perturb(model)
    assert reversal_change(model, cfg) < 1e-5
    # full model: frames meet nowhere; the pose encoder's learned frame embedding is its only order signal
    cfg, model = build({"model.temporal.kind": "none"})
    perturb(model)
    with torch.no_grad():
        model.pose_encoder.frame_embed.copy_(model.pose_encoder.frame_embed.mean(0, keepdim=True))
    assert reversal_change(model, cfg) < 1e-5


@pytest.mark.parametrize("kind", KINDS + ["none"])
def test_starts_exactly_from_frame_by_frame_clip(kind):
    """Zero-initialised up-projections: every kind computes what kind none computes, at init."""
    cfg, model = build({"model.temporal.kind": kind})
    _, plain = build({"model.temporal.kind": "none"})
    plain.load_state_dict(model.state_dict(), strict=False)
    video, pose, _ = tiny_batch(cfg, batch=2)
    with torch.no_grad():
        torch.testing.assert_close(model(video, pose).logits, plain(video, pose).logits, atol=1e-5, rtol=1e-5)


def test_frozen_attention_equals_the_blocks_multihead_attention():
    _, model = build()
    attn = model.visual.transformer.resblocks[0].attn
    x = torch.randn(3, 5, attn.embed_dim)
    torch.testing.assert_close(frozen_attention(attn, x), attn(x, x, x, need_weights=False)[0], atol=1e-5, rtol=1e-5)


TOWERS = [
    ("model.temporal.kind", "none", ["video_encoder.temporal.", "pose_encoder.temporal."]),
    ("model.temporal.kind", "st_adapter",
     ["video_encoder.temporal.time_embed", "video_encoder.temporal.blocks.0.joint."]),
    ("model.temporal.use_pose", False, ["pose_encoder.temporal."]),
    ("model.adapter.use_video", False, ["video_encoder.temporal."]),
    ("model.adapter.use_pose", False, ["pose_encoder.temporal."]),
    ("model.use_adapters", False, ["video_encoder.temporal.", "pose_encoder.temporal."]),
]


@pytest.mark.parametrize("key,value,gone", TOWERS, ids=[f"{k}={v}" for k, v, _ in TOWERS])
def test_each_temporal_switch_removes_its_submodule(key, value, gone):
    full = set(build()[1].state_dict())
    ablated = set(build({key: value})[1].state_dict())
    assert_switch_removes(full, ablated, gone)


def test_st_adapter_keys_and_pose_kernel():
    _, model = build({"model.temporal.kind": "st_adapter", "model.temporal.kernel_s": 3})
    keys = set(model.state_dict())
    assert "video_encoder.temporal.blocks.1.conv.weight" in keys
    assert model.video_encoder.temporal.blocks[0].conv.kernel_size == (3, 3, 3)
    assert model.pose_encoder.temporal.blocks[0].conv.kernel_size == (3, 1, 1)  # joints: time only


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_checkpointing_gives_the_same_gradients(kind):
    grads = []
    for use in (False, True):
        cfg, model = build({"model.temporal.kind": kind, "model.temporal.use_checkpoint": use})
        perturb(model)
        video, pose, _ = tiny_batch(cfg, batch=2)
        model(video, pose).logits.square().sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and any("temporal" in n for n in grads[0])
    for n in grads[0]:
        torch.testing.assert_close(grads[0][n], grads[1][n], atol=1e-6, rtol=1e-5, msg=n)


@pytest.mark.slow
def test_vitb16_presets_land_on_the_papers_budget():
    """ViT-B/16 (random weights, CPU): 28.0 M +- 20% tunable video-only, 42.0 M full; ViT-L/14 full 109 M."""
    from pevl.model.info import model_info

    def trainable(preset: str, **overrides) -> float:
        sets = {"model.pretrained": None, **overrides}
        return model_info(load_config(ROOT / "configs" / preset, sets).model, flops=False).trainable / 1e6

    assert 28.0 * 0.8 <= trainable("diving48-vitb16.yaml", **{"model.use_pose": False}) <= 28.0 * 1.2
    assert 42.0 * 0.8 <= trainable("diving48-vitb16.yaml") <= 42.0 * 1.2
    assert 109.0 * 0.8 <= trainable("diving48-vitl14.yaml") <= 109.0 * 1.2


def moving_squares(n: int, frames: int, size: int, seed: int) -> torch.Tensor:
    """n clips of a bright square moving left to right over noise (random row, start and speed).

    Returns:
        (n, T, 3, size, size).
    """
    g = torch.Generator().manual_seed(seed)
    video = torch.randn(n, frames, 3, size, size, generator=g) * 0.3
    side = size // 4
    for i in range(n):
        y = int(torch.randint(0, size - side + 1, (1,), generator=g))
        speed = float(torch.empty(1).uniform_(0.5, 1.0, generator=g)) * (size - side) / (frames - 1)
        x0 = float(torch.empty(1).uniform_(0.0, size - side - speed * (frames - 1), generator=g))
        for t in range(frames):
            x = int(round(x0 + speed * t))
            video[i, t, :, y:y + side, x:x + side] += 2.0
    return video


def direction_accuracy(kind: str, steps: int = 200) -> float:
    """Train a tiny video-only model to tell each clip from itself played backwards; held-out accuracy."""
    cfg, model = build({"model.temporal.kind": kind, "model.use_pose": False}, classes=2)
    size, frames = cfg.image_size, cfg.num_frames

    def pairs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        clips = moving_squares(n, frames, size, seed)
        return torch.cat([clips, clips.flip(1)]), torch.cat([torch.zeros(n), torch.ones(n)]).long()

    video, labels = pairs(48, seed=0)
    test_video, test_labels = pairs(32, seed=1)
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=3e-3, weight_decay=0.0)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randperm(len(labels), generator=g)[:32]
        loss = torch.nn.functional.cross_entropy(model(video[idx], None).logits, labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return float((model.predict(test_video, None).argmax(-1) == test_labels).float().mean())


def test_tiny_model_learns_the_direction_of_motion_only_with_a_temporal_kind():
    """Forward and backward copies of the same clips are the two classes: an order-blind model sees the
    same frames for both, so on held-out pairs it scores exactly one of each pair (50%)."""
    assert direction_accuracy("aim") >= 0.9
    assert direction_accuracy("st_adapter") >= 0.9
    assert direction_accuracy("none") == pytest.approx(0.5)


def test_flop_count_includes_the_attention_and_scales_with_frames():
    """torch's counter has no formula for SDPA's CPU kernel; model_info adds it (else every attention is 0)."""
    from pevl.model.info import clip_flops, model_info

    cfg, model = build({"model.temporal.kind": "aim", "model.use_pose": False})
    total, _ = clip_flops(model, cfg)
    lengths = {"spatial": 1 + (cfg.image_size // 8) ** 2, "temporal": cfg.num_frames}
    width, depth = 64, 2  # pevl-tiny
    # q k^T and a v: 2 matmuls of 2 * L^2 * D FLOPs per sequence; sequences: T frames or L positions
    attention = depth * 4 * width * (cfg.num_frames * lengths["spatial"] ** 2
                                     + lengths["spatial"] * lengths["temporal"] ** 2)
    _, plain = build({"model.temporal.kind": "aim", "model.use_pose": False})
    import torch.utils.flop_counter as fc
    with fc.FlopCounterMode(display=False) as counter, torch.no_grad():
        plain.train()
        plain(torch.zeros(1, cfg.num_frames, 3, cfg.image_size, cfg.image_size), None)
    assert total * 1e9 - counter.get_total_flops() == pytest.approx(attention, rel=1e-6)
    info = model_info(cfg, num_classes=4, flop_frames=(4, 8))
    assert set(info.gflops_by_frames) == {4, 8} and info.gflops_by_frames[4] == info.gflops
    ratio = info.gflops_by_frames[8] / info.gflops_by_frames[4]
    assert 1.9 < ratio < 2.2
