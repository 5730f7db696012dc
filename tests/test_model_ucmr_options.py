"""UCMR options and review fixes: the inferred V2P-R choices as switches, the refinement order,
the NT-Xent stop-gradient, the SDPA attention against the old hand-written softmax, and which
pose frame UCMR places on a video frame under `pose_align: pool`."""

import pytest
import torch
from tiny_model import assert_switch_removes, one_thread, tiny_batch, tiny_cfg, tiny_classes  # noqa: F401 (autouse fixture)

from pevl.losses import PeVLLoss, build_loss
from pevl.model import PeVLOutput, build_model
from pevl.model.attention import ResidualAttention
from pevl.model.pose_encoder import pool_groups
from pevl.model.v2p import group_keys


def build(overrides: dict | None = None, seed: int = 0):
    torch.manual_seed(seed)
    cfg = tiny_cfg(overrides)
    return cfg, build_model(cfg, tiny_classes(4))


def perturb(module: torch.nn.Module, seed: int = 1) -> None:
    """Give every parameter of `module` random values (zero-initialised outputs become active)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)


def old_attention(attn: ResidualAttention, q, kv, bias=None, allowed=None):
    """The hand-written softmax attention the layer used before SDPA (the reference)."""
    n, lq, d = q.shape
    h = attn.heads
    query = attn.q(attn.norm_q(q)).view(n, lq, h, d // h).transpose(1, 2)
    key, value = attn.kv(attn.norm_kv(kv)).view(n, -1, 2, h, d // h).permute(2, 0, 3, 1, 4)
    logits = query @ key.transpose(-1, -2) * (d // h) ** -0.5
    if bias is not None:
        logits = logits + bias.unsqueeze(1).to(logits.dtype)
    if allowed is not None:
        mask = allowed.unsqueeze(1)
        logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
        weights = logits.softmax(-1) * mask.to(logits.dtype)
    else:
        weights = logits.softmax(-1)
    return q + attn.out((weights @ value).transpose(1, 2).reshape(n, lq, d))


@pytest.mark.parametrize("use_bias,use_allowed", [(False, False), (True, False), (False, True), (True, True)])
def test_sdpa_attention_matches_the_old_softmax_attention(use_bias, use_allowed):
    torch.manual_seed(0)
    attn = ResidualAttention(16, 4)
    torch.nn.init.normal_(attn.out.weight)
    q, kv = torch.randn(3, 5, 16, requires_grad=True), torch.randn(3, 7, 16)
    bias = torch.randn(3, 1, 7) if use_bias else None
    allowed = None
    if use_allowed:
        allowed = torch.rand(3, 5, 7) > 0.5
        allowed[:, 1] = False  # an empty group
        allowed[:, 2] = True
    new, old = attn(q, kv, bias, allowed), old_attention(attn, q, kv, bias, allowed)
    torch.testing.assert_close(new, old, rtol=1e-5, atol=1e-5)
    if use_allowed:
        torch.testing.assert_close(new[:, 1], q[:, 1], rtol=0, atol=0)  # zero update, never NaN
    (g_new,) = torch.autograd.grad(new.square().sum(), q)
    (g_old,) = torch.autograd.grad(old.square().sum(), q)
    assert torch.isfinite(g_new).all()
    torch.testing.assert_close(g_new, g_old, rtol=1e-4, atol=1e-5)


def test_sdpa_attention_under_bf16_autocast_has_no_nan():
    torch.manual_seed(0)
    attn = ResidualAttention(16, 4)
    torch.nn.init.normal_(attn.out.weight)
    q, kv = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    allowed = torch.zeros(2, 3, 5, dtype=torch.bool)
    allowed[:, 0, :2] = True
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = attn(q, kv, torch.randn(2, 1, 5), allowed)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[:, 1:].float(), q[:, 1:], rtol=0, atol=0)


def test_group_keys_of_the_pose_class_token():
    groups = torch.tensor([[0, 1, 2, 2]])  # 4 patches, K = 2 joints, 2 = background
    full = group_keys(groups, 2, 5, "all")
    assert full.shape == (1, 4, 5) and full[0, 0].all()
    assert full[0, 1].tolist() == [False, True, False, False, False]  # joint 0: its patch only
    assert full[0, 3].tolist() == [False, False, False, True, True]  # background
    assert group_keys(groups, 2, 5, "video_cls")[0, 0].tolist() == [True, False, False, False, False]
    assert not group_keys(groups, 2, 5, "none")[0, 0].any()
    assert torch.equal(group_keys(groups, 2, 5, "none")[:, 1:], full[:, 1:])


def test_v2p_cls_keys_decide_what_the_pose_class_token_reads():
    # without the mixing attention the refined pose class token is the cross-attention's alone
    for keys in ("all", "video_cls", "none"):
        cfg, model = build({"model.ucmr.v2p_cls_keys": keys, "model.ucmr.use_v2p_mix": False})
        perturb(model.ucmr.v2p)
        video, pose, _ = tiny_batch(cfg)
        x = model.video_encoder(video, model.visual)
        j = model.pose_encoder(pose, model.visual)
        other = x.clone()
        other[:, :, 1:] = torch.randn_like(other[:, :, 1:])  # new patch tokens, same class token
        a, _ = model.ucmr.v2p(j, x)
        b, _ = model.ucmr.v2p(j, other)
        changed = not torch.allclose(a[:, :, 0], b[:, :, 0])
        assert changed == (keys == "all"), keys
        if keys == "none":
            torch.testing.assert_close(a[:, :, 0], j.tokens[:, :, 0], rtol=0, atol=0)
        else:
            assert not torch.allclose(a[:, :, 0], j.tokens[:, :, 0])


SWITCHES = [
    ("model.ucmr.use_v2p_mix", False, ["ucmr.v2p.mix."]),
]


@pytest.mark.parametrize("key,value,gone", SWITCHES, ids=[f"{k}={v}" for k, v, _ in SWITCHES])
def test_each_new_switch_removes_its_submodule(key, value, gone):
    full = set(build()[1].state_dict())
    ablated = set(build({key: value})[1].state_dict())
    assert_switch_removes(full, ablated, gone)
    assert {k for k in full - ablated if not any(k.startswith(p) for p in gone)} == set()


def test_options_that_keep_every_submodule_keep_the_state_dict():
    # modes, not switches: the same parameters, wired differently
    full = set(build()[1].state_dict())
    for overrides in ({"model.ucmr.v2p_cls_keys": "none"}, {"model.ucmr.order": "p2v_first"},
                      {"model.ucmr.use_stop_gradient": True}):
        assert set(build(overrides)[1].state_dict()) == full, overrides


@pytest.mark.parametrize("order", ["parallel", "p2v_first", "v2p_first"])
def test_refinement_order_decides_which_refiner_reads_the_other(order):
    cfg, model = build({"model.ucmr.order": order})
    perturb(model.ucmr)
    video, pose, _ = tiny_batch(cfg)
    base = model(video, pose)
    with torch.no_grad():
        model.ucmr.p2v.attn.out.weight.mul_(3.0)  # change P2V-R only
    after_p2v = model(video, pose)
    pose_moved = not torch.allclose(base.refine_pairs["pose"][1], after_p2v.refine_pairs["pose"][1])
    assert pose_moved == (order == "p2v_first")
    with torch.no_grad():
        model.ucmr.v2p.cross.out.weight.mul_(3.0)  # change V2P-R only
    after_v2p = model(video, pose)
    video_moved = not torch.allclose(after_p2v.refine_pairs["video"][1], after_v2p.refine_pairs["video"][1])
    assert video_moved == (order == "v2p_first")
    assert torch.isfinite(after_v2p.logits).all()


def test_stop_gradient_detaches_only_the_unrefined_view():
    g = torch.Generator().manual_seed(0)

    def output():
        before = torch.randn(4, 8, generator=g, requires_grad=True)
        after = torch.randn(4, 8, generator=g, requires_grad=True)
        logits = torch.randn(4, 3, generator=g)
        out = PeVLOutput(logits=logits, score=logits, scores={}, logit_scale=torch.tensor(1.0),
                         refine_pairs={"video": (before, after)})
        return out, before, after

    labels = torch.tensor([0, 1, 2, 0])
    for stop in (False, True):
        out, before, after = output()
        loss = PeVLLoss(use_sgmc=False, stop_gradient=stop)(out, labels)
        loss["total"].backward()
        assert after.grad is not None and after.grad.abs().sum() > 0
        assert (before.grad is None) == stop
    cfg = tiny_cfg({"model.ucmr.use_stop_gradient": True})
    assert build_loss(cfg).stop_gradient


def test_pool_keeps_the_positions_of_the_frame_the_video_shows():
    g = torch.Generator().manual_seed(0)
    tokens, xy, score = torch.randn(2, 6, 4, 8, generator=g), torch.rand(2, 6, 3, 2, generator=g), torch.rand(2, 6, 3)
    out = pool_groups(tokens, xy, score, num_frames=3)  # r = 2
    torch.testing.assert_close(out.tokens, tokens.view(2, 3, 2, 4, 8).mean(2))
    torch.testing.assert_close(out.xy, xy[:, ::2])
    torch.testing.assert_close(out.score, score[:, ::2])


@pytest.mark.parametrize("pose_input", ["coords", "heatmap"])
def test_ucmr_places_the_joints_of_the_first_pose_frame_of_each_group(pose_input):
    cfg, model = build({"model.pose_frame_ratio": 2, "model.pose_align": "pool", "model.pose_input": pose_input})
    video, pose, _ = tiny_batch(cfg)
    pose[..., 2] = 1.0
    out = model(video, pose)
    second = pose.clone()
    second[:, 1::2, :, :2] = torch.rand_like(second[:, 1::2, :, :2])  # move the frames the video does not show
    moved_second = model(video, second)
    # V2P's groups read only positions and scores (the P2V mask also reads the pooled tokens' weights)
    torch.testing.assert_close(moved_second.groups, out.groups, rtol=0, atol=0)
    first = pose.clone()
    first[:, 0::2, :, :2] = torch.rand_like(first[:, 0::2, :, :2])
    assert not torch.equal(model(video, first).groups, out.groups)
