"""Optimizer groups, warm-up + cosine schedule, checkpoints (atomic, RNG states), train_step on a toy module.

The toy module stands in for nothing the pipeline ships: it only checks the step's arithmetic
(accumulation, clipping) where the real model's size would hide it.
"""

import math
import random

import numpy as np
import pytest
import torch

from pevl.train.checkpoint import load_checkpoint, load_model_state, model_state, rng_state, save_checkpoint, set_rng_state
from pevl.train.optim import build_optimizer, build_scheduler, lr_factor, param_groups
from schemas import TrainConfig


class Toy(torch.nn.Module):
    """A linear classifier with a LayerNorm, a logit scale and a frozen part."""

    def __init__(self):
        super().__init__()
        self.frozen = torch.nn.Linear(4, 4)
        self.frozen.requires_grad_(False)
        self.norm = torch.nn.LayerNorm(4)
        self.head = torch.nn.Linear(4, 3)
        self.logit_scale = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, x):
        return self.head(self.norm(self.frozen(x))) * self.logit_scale


def test_param_groups_skip_decay_on_norms_biases_and_logit_scale():
    model = Toy()
    groups = {g["name"]: g for g in param_groups(model, 0.05)}
    decay = {id(p) for p in groups["decay"]["params"]}
    no_decay = {id(p) for p in groups["no_decay"]["params"]}
    assert decay == {id(model.head.weight)}
    assert no_decay == {id(model.head.bias), id(model.norm.weight), id(model.norm.bias), id(model.logit_scale)}
    assert groups["no_decay"]["weight_decay"] == 0.0 and groups["decay"]["weight_decay"] == 0.05
    assert id(model.frozen.weight) not in decay | no_decay


def test_warmup_then_cosine_to_floor():
    total, warmup = 100, 10
    lrs = [lr_factor(s, total, warmup, 0.1) for s in range(total + 1)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:10]))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[55] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lrs[-1] == pytest.approx(0.1)


def test_scheduler_length_follows_epochs_and_accumulation():
    cfg = TrainConfig(epochs=3, lr=0.1, warmup_epochs=1.0, grad_accum=2, min_lr_ratio=0.0)
    opt = build_optimizer(Toy(), cfg)
    sched = build_scheduler(opt, cfg, steps_per_epoch=8)  # 4 updates per epoch, 12 in all
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[3] == pytest.approx(0.1) and lrs[0] == pytest.approx(0.025)
    assert lrs[-1] < 0.01


def test_checkpoint_round_trip_restores_model_optimizer_and_rng(tmp_path):
    torch.manual_seed(0)
    model = Toy()
    opt = build_optimizer(model, TrainConfig(lr=0.01))
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    random.seed(3)
    np.random.seed(4)
    payload = {"model": model_state(model, full=False), "optimizer": opt.state_dict(), "rng": rng_state(), "step": 7}
    path = save_checkpoint(tmp_path / "last.pt", payload)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary left behind
    expected = (torch.rand(3), np.random.rand(3), random.random())
    ckpt = load_checkpoint(path)
    assert "frozen.weight" not in ckpt["model"] and "head.weight" in ckpt["model"]
    set_rng_state(ckpt["rng"])
    assert torch.equal(torch.rand(3), expected[0]) and np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]
    fresh = Toy()
    fresh.frozen.load_state_dict(model.frozen.state_dict())  # the frozen part comes from config
    load_model_state(fresh, ckpt["model"])
    assert torch.equal(fresh.head.weight, model.head.weight) and ckpt["step"] == 7
    opt2 = build_optimizer(fresh, TrainConfig(lr=0.01))
    opt2.load_state_dict(ckpt["optimizer"])
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_loading_a_checkpoint_without_trainable_weights_fails(tmp_path):
    model = Toy()
    state = model_state(model, full=False)
    del state["head.weight"]
    with pytest.raises(ValueError, match="head.weight"):
        load_model_state(Toy(), state)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


class ToyClip(torch.nn.Module):
    """Video + pose -> logits, for checking train_step's accumulation and clipping."""

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(3 + 3, 3)

    def forward(self, video, pose):
        feats = torch.cat([video.mean(dim=(1, 3, 4)), pose.mean(dim=(1, 2))], dim=1)  # (B, 6)
        return self.head(feats)


def _loss(out, labels):
    ce = torch.nn.functional.cross_entropy(out, labels)
    return {"total": ce, "ce": ce}


def _batch(seed, n):
    g = torch.Generator().manual_seed(seed)
    return {"video": torch.randint(0, 255, (n, 2, 8, 8, 3), dtype=torch.uint8, generator=g),
            "pose": torch.rand(n, 2, 17, 3, generator=g), "label": torch.randint(0, 3, (n,), generator=g)}


def test_train_step_accumulation_equals_one_big_batch_and_clips():
    from pevl.train.loop import train_step

    cfg = TrainConfig(lr=0.1, warmup_epochs=0.0, grad_clip=0.0)
    a, b = _batch(1, 4), _batch(2, 4)
    both = {k: torch.cat([a[k], b[k]]) for k in a}
    models = []
    for micro in ([a, b], [both]):
        torch.manual_seed(0)
        model = ToyClip()
        opt = build_optimizer(model, cfg)
        out = train_step(model, _loss, micro, opt, build_scheduler(opt, cfg, 10), torch.device("cpu"))
        models.append(model)
        assert set(out) == {"total", "ce", "lr", "grad_norm"} and out["lr"] == pytest.approx(0.1)
    assert torch.allclose(models[0].head.weight, models[1].head.weight, atol=1e-6)
    torch.manual_seed(0)
    model = ToyClip()
    before = model.head.weight.detach().clone()
    clipped = TrainConfig(lr=0.1, warmup_epochs=0.0, grad_clip=1e-3, weight_decay=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    out = train_step(model, _loss, [a], opt, build_scheduler(opt, clipped, 10), torch.device("cpu"), grad_clip=1e-3)
    assert out["grad_norm"] > 1e-3  # the reported norm is the one before clipping
    assert (model.head.weight - before).norm() <= 1e-3 + 1e-6
