"""Scores and temperature: weighted-mean score, fp32 under autocast, the logit scale learning at its
cap (clamped after each optimizer step), every components row training something, and the one-time
cast of the frozen weights to the AMP dtype (run here on CPU with bf16; the cast is device-agnostic)."""

import math

import pytest
import torch
from tiny_model import ROOT, one_thread, tiny_batch, tiny_cfg, tiny_classes  # noqa: F401 (autouse fixture)

from pevl.losses import build_loss
from pevl.model import build_model
from pevl.model.pevl import MAX_LOGIT_SCALE
from pevl.model.sgmc import ScoreHead
from pevl.model.text_encoder import TextFeatures
from pevl.train.loop import train_step
from pevl.train.optim import build_optimizer, build_scheduler, cast_frozen_weights, clamp_logit_scale
from schemas import GridSpec, TrainConfig
from schemas.loading import read_yaml, validate

COMPONENTS = validate(GridSpec, read_yaml(ROOT / "configs/ablations/components.yaml"), "components").runs


def build(overrides: dict | None = None, seed: int = 0):
    torch.manual_seed(seed)
    cfg = tiny_cfg(overrides)
    return cfg, build_model(cfg, tiny_classes(4))


def loader_batch(cfg, batch: int = 4, seed: int = 0) -> dict:
    """A batch as the loader yields it (uint8 frames, channels last), for `train_step`."""
    g = torch.Generator().manual_seed(seed)
    s, t = cfg.image_size, cfg.num_frames
    _, pose, labels = tiny_batch(cfg, batch=batch, seed=seed)
    video = torch.randint(0, 256, (batch, t, s, s, 3), generator=g, dtype=torch.uint8)
    return {"video": video, "pose": pose, "label": labels}


def one_step(model, cfg, lr: float = 1e-2, seed: int = 0) -> dict:
    train = TrainConfig(epochs=1, lr=lr, warmup_epochs=0.0, weight_decay=0.0)
    opt = build_optimizer(model, train)
    sched = build_scheduler(opt, train, steps_per_epoch=1)
    return train_step(model, build_loss(cfg), [loader_batch(cfg, seed=seed)], opt, sched, torch.device("cpu"))


def test_logit_scale_moves_when_it_starts_at_the_cap():
    # OpenAI's CLIP weights start at log(100): a clamp inside forward gave exactly zero gradient there
    cfg, model = build()
    with torch.no_grad():
        model.logit_scale.fill_(MAX_LOGIT_SCALE)
    video, pose, labels = tiny_batch(cfg, batch=4)
    build_loss(cfg)(model(video, pose), labels)["total"].backward()
    assert model.logit_scale.grad is not None and model.logit_scale.grad.abs() > 0
    model.zero_grad(set_to_none=True)
    one_step(model, cfg)
    value = model.logit_scale.item()
    assert value < MAX_LOGIT_SCALE - 1e-4  # learned away from the cap (random features: a softer scale)


def test_logit_scale_is_clamped_after_the_step_not_in_forward():
    cfg, model = build()
    with torch.no_grad():
        model.logit_scale.fill_(MAX_LOGIT_SCALE + 1.0)  # as if the step had overshot
    video, pose, _ = tiny_batch(cfg)
    out = model(video, pose)
    assert out.logit_scale.item() == pytest.approx(100.0 * math.e, rel=1e-5)  # forward does not clamp
    clamp_logit_scale(torch.nn.Linear(2, 2))  # a model without a logit scale: a no-op
    wrapper = torch.nn.Module()
    wrapper.module = model  # the DDP layout: the bare model under .module
    clamp_logit_scale(wrapper)
    assert model.logit_scale.item() == pytest.approx(MAX_LOGIT_SCALE)
    with torch.no_grad():
        model.logit_scale.fill_(1.0)
    clamp_logit_scale(model)
    assert model.logit_scale.item() == 1.0  # below the cap: untouched


def test_train_step_keeps_the_logit_scale_at_most_the_cap():
    cfg, model = build()
    with torch.no_grad():
        model.logit_scale.fill_(MAX_LOGIT_SCALE)
    # a gradient that asks for a sharper temperature: AdamW's step (about lr) overshoots the cap
    model.logit_scale.register_hook(lambda g: -torch.ones_like(g))
    one_step(model, cfg, lr=1.0)
    assert model.logit_scale.item() == pytest.approx(MAX_LOGIT_SCALE)


def test_combined_score_is_the_weighted_mean_of_the_active_terms():
    g = torch.Generator().manual_seed(0)
    v = torch.nn.functional.normalize(torch.randn(3, 8, generator=g), dim=-1)
    p = torch.nn.functional.normalize(torch.randn(3, 8, generator=g), dim=-1)
    text = TextFeatures(torch.nn.functional.normalize(torch.randn(5, 8, generator=g), dim=-1))
    total, scores = ScoreHead({"vs": 1.0, "ps": 3.0})(v, p, None, text)
    torch.testing.assert_close(total, (scores["vs"] + 3 * scores["ps"]) / 4)
    single, _ = ScoreHead({"vs": 2.0})(v, None, None, text)
    torch.testing.assert_close(single, scores["vs"])  # one term: the weight cancels, S = S_VS
    with pytest.raises(ValueError, match="positive sum"):
        ScoreHead({"vs": 0.0})
    with pytest.raises(ValueError, match="weight 0"):
        tiny_cfg({"model.sgmc.weight_vs": 0.0, "model.sgmc.weight_ps": 0.0, "model.sgmc.weight_fw": 0.0})


@pytest.mark.parametrize("run", COMPONENTS, ids=[r.name for r in COMPONENTS])
def test_every_components_row_scores_in_cosine_range_and_trains_something(run):
    # a mean of cosines: |S| <= 1 in every row, so logits are at most logit_scale whatever terms are on
    cfg, model = build(run.set)
    video, pose, labels = tiny_batch(cfg, batch=4)
    out = model(video, pose)
    assert out.score.abs().max() <= 1.0 + 1e-5
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert "logit_scale" in trainable
    with torch.no_grad():
        model.logit_scale.fill_(MAX_LOGIT_SCALE)  # where OpenAI's weights start
    build_loss(cfg)(model(video, pose), labels)["total"].backward()
    assert model.logit_scale.grad.abs() > 0, f"{run.name}: the logit scale gets no gradient at the cap"
    model.zero_grad(set_to_none=True)
    before = {n: p.detach().clone() for n, p in trainable.items()}
    one_step(model, cfg)
    moved = [n for n, p in trainable.items() if not torch.equal(p.detach(), before[n])]
    assert moved, f"{run.name}: no parameter changed in a train step"


def test_scores_and_logits_are_float32_under_bf16_autocast():
    cfg, model = build()
    video, pose, labels = tiny_batch(cfg)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(video, pose)
        loss = build_loss(cfg)(out, labels)["total"]
    assert out.logits.dtype == out.score.dtype == torch.float32
    assert all(s.dtype == torch.float32 for s in out.scores.values())
    assert out.video.dtype == out.pose.dtype == out.pose_frames.dtype == torch.float32
    assert torch.isfinite(loss)
    # the head itself: bf16 inputs under autocast give the float32 result of the upcast inputs
    g = torch.Generator().manual_seed(1)
    v = torch.nn.functional.normalize(torch.randn(3, 8, generator=g), dim=-1).bfloat16()
    text = TextFeatures(torch.nn.functional.normalize(torch.randn(5, 8, generator=g), dim=-1).bfloat16())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total, _ = ScoreHead({"vs": 1.0})(v, None, None, text)
    assert total.dtype == torch.float32
    torch.testing.assert_close(total, v.float() @ text.sentence.float().T, rtol=0, atol=1e-7)


@pytest.mark.parametrize(
    "overrides", [{}, {"model.temporal.kind": "st_adapter", "model.pose_input": "heatmap"}], ids=["aim", "st-heatmap"]
)
def test_frozen_weights_cast_once_and_trainables_stay_float32(overrides):
    # stands in for the CUDA path (`_setup` casts only on CUDA); the cast itself is device-agnostic
    cfg, model = build(overrides)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # zero-initialised outputs active, so every path reads the cast weights
        for p in model.trainable_parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    video, pose, labels = tiny_batch(cfg)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        reference = model(video, pose).logits
    count = cast_frozen_weights(model, torch.bfloat16)
    assert count > 0
    frozen_linear = [m.weight for m in model.visual.modules() if isinstance(m, torch.nn.Linear)]
    assert frozen_linear and all(w.dtype == torch.bfloat16 for w in frozen_linear)
    assert model.visual.conv1.weight.dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)
    assert model.visual.ln_pre.weight.dtype == torch.float32 and model.visual.proj.dtype == torch.float32
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        cast = model(video, pose).logits
    # autocast rounded the same weights to bf16 on every step before: the result is the same
    torch.testing.assert_close(cast, reference, rtol=0, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        build_loss(cfg)(model(video, pose), labels)["total"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
    assert cast_frozen_weights(model, torch.bfloat16) == 0  # once: nothing left to cast
