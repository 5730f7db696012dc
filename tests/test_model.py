"""PeVL model on the tiny config: shapes of every ablation preset, gradients, ablation switches."""

import pytest
import torch
from tiny_model import ROOT, one_thread, tiny_batch, tiny_cfg, tiny_classes  # noqa: F401 (autouse fixture)

from pevl.losses import build_loss
from pevl.model import CLIP_MEAN, CLIP_STD, PeVLOutput, build_model
from schemas import GridSpec
from schemas.loading import read_yaml, validate
from schemas.model import active_scores

GRIDS = sorted((ROOT / "configs/ablations").glob("*.yaml"))
PRESETS = [(g, run) for g in GRIDS for run in validate(GridSpec, read_yaml(g), str(g)).runs]


def build(overrides: dict | None = None, classes: int = 4, seed: int = 0):
    torch.manual_seed(seed)
    cfg = tiny_cfg(overrides)
    return cfg, build_model(cfg, tiny_classes(classes))


def test_ablation_grids_cover_the_method_tables():
    names = {g.stem: [r.name for r in validate(GridSpec, read_yaml(g), str(g)).runs] for g in GRIDS}
    assert set(names) == {"components", "ucmr", "sgmc", "inputs", "temporal"}
    assert set(names["temporal"]) == {"none", "aim", "st_adapter"}
    assert names["components"][0] == "video_text_baseline" and names["components"][-1] == "plus_sgmc"
    assert {"no_ucmr", "no_p2v", "no_v2p", "no_refine_supervision"} <= set(names["ucmr"])
    assert {"v_l", "p_l", "v_p", "v_p_l", "pose_heatmap"} <= set(names["inputs"])


@pytest.mark.parametrize("grid,run", PRESETS, ids=[f"{g.stem}-{r.name}" for g, r in PRESETS])
def test_every_preset_builds_with_expected_shapes_and_finite_loss(grid, run):
    cfg, model = build(run.set)
    video, pose, labels = tiny_batch(cfg, batch=3)
    out = model(video, pose)
    assert isinstance(out, PeVLOutput)
    assert out.logits.shape == (3, 4) and set(out.scores) == set(active_scores(cfg))
    n = (32 // 8) ** 2
    has_p2v = model.ucmr is not None and model.ucmr.p2v is not None
    assert (out.pose_mask is not None) == has_p2v
    if has_p2v:
        assert out.pose_mask.shape == (3, 2, n)
    if cfg.use_pose:
        assert out.pose_frames.shape == (3, 2, 64)
    losses = build_loss(cfg)(out, labels)
    assert torch.isfinite(losses["total"]) and ("sgmc" in losses) == cfg.sgmc.use_sgmc
    assert model.predict(video, pose).shape == (3, 4)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"model.pose_input": "heatmap", "model.adapter.placement": "inside", "model.sgmc.word_level": "phrases",
          "model.pose_frame_ratio": 2}],
    ids=["default", "heatmap-inside-phrases-r2"],
)
def test_gradients_reach_every_new_module_and_no_frozen_weight(overrides):
    cfg, model = build(overrides)
    loss_fn = build_loss(cfg)
    video, pose, labels = tiny_batch(cfg, batch=4)
    trainable = dict((n, p) for n, p in model.named_parameters() if p.requires_grad)
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith(("visual.", "text_encoder.")) for n in frozen)
    assert not any("adapters" in n for n in frozen)
    opt = torch.optim.SGD(model.trainable_parameters(), lr=0.5)
    # zero-initialised outputs pass no gradient to the layers before them until one step is taken
    for _ in range(2):
        opt.zero_grad()
        loss_fn(model(video, pose), labels)["total"].backward()
        opt.step()
    missing = [n for n, p in trainable.items() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reached {missing}"
    assert all(p.grad is None for n, p in model.named_parameters() if not p.requires_grad)
    assert set(trainable) == {n for n, p in model.named_parameters() if p in set(model.trainable_parameters())}


SWITCHES = [
    ("model.use_pose", False, ["pose_encoder.", "ucmr."]),
    ("model.use_video", False, ["video_encoder.", "ucmr."]),
    ("model.use_text", False, ["text_encoder.transformer.", "text_encoder.adapters."]),
    ("model.use_adapters", False, ["video_encoder.adapters.", "pose_encoder.adapters.", "text_encoder.adapters."]),
    ("model.adapter.use_video", False, ["video_encoder.adapters."]),
    ("model.adapter.use_pose", False, ["pose_encoder.adapters."]),
    ("model.adapter.use_text", False, ["text_encoder.adapters."]),
    ("model.ucmr.use_ucmr", False, ["ucmr."]),
    ("model.ucmr.use_p2v", False, ["ucmr.p2v."]),
    ("model.ucmr.use_v2p", False, ["ucmr.v2p."]),
    ("model.pose_input", "heatmap", ["pose_encoder.coord.", "pose_encoder.joint_embed"]),
    ("model.adapter.placement", "inside", ["video_encoder.adapters.output."]),
]


@pytest.mark.parametrize("key,value,gone", SWITCHES, ids=[f"{k}={v}" for k, v, _ in SWITCHES])
def test_each_switch_removes_its_submodule(key, value, gone):
    full = set(build()[1].state_dict())
    ablated = set(build({key: value})[1].state_dict())
    removed = full - ablated
    for prefix in gone:
        assert any(k.startswith(prefix) for k in full), prefix
        assert not any(k.startswith(prefix) for k in ablated), prefix
    assert removed


def test_switches_without_submodules_change_scores_and_losses():
    cfg, model = build({"model.sgmc.use_s_fw": False, "model.sgmc.use_sgmc": False,
                        "model.ucmr.use_refine_supervision": False})
    video, pose, labels = tiny_batch(cfg)
    out = model(video, pose)
    assert set(out.scores) == {"vs", "ps"}
    assert set(build_loss(cfg)(out, labels)) == {"ce", "total"}
    cfg, model = build({"model.sgmc.word_level": "phrases"})
    assert "text_encoder.phrase_hidden" in model.state_dict()
    assert set(build_loss(cfg)(model(video, pose), labels)) == {
        "vp2t", "t2vp", "sgmc", "ucmr_video", "ucmr_pose", "ucmr", "total"}


def test_inside_adapters_sit_in_the_last_blocks():
    _, model = build({"model.adapter.placement": "inside", "model.adapter.inside_blocks": 1})
    keys = model.state_dict()
    assert "video_encoder.adapters.blocks.1.up.weight" in keys
    assert "video_encoder.adapters.blocks.0.up.weight" not in keys


def test_starts_from_clip_features_and_is_deterministic():
    """Zero-initialised adapters and refiners: at init V equals frozen CLIP's image embedding."""
    cfg, model = build({"model.num_frames": 1})
    video, pose, _ = tiny_batch(cfg)
    out = model(video, pose)
    model.visual.output_tokens = False
    clip_feat = torch.nn.functional.normalize(model.visual(video[:, 0]), dim=-1)
    torch.testing.assert_close(out.video, clip_feat, atol=1e-5, rtol=1e-5)
    again = build({"model.num_frames": 1})[1](video, pose)
    torch.testing.assert_close(again.logits, out.logits)


def test_missing_joint_position_is_ignored():
    cfg, model = build()
    video, pose, _ = tiny_batch(cfg)
    pose[0, :, 3, 2] = 0.0
    moved = pose.clone()
    moved[0, :, 3, :2] = torch.tensor([0.9, 0.1])
    a, b = model(video, pose), model(video, moved)
    torch.testing.assert_close(a.logits, b.logits)
    torch.testing.assert_close(a.pose_mask, b.pose_mask)


def test_clip_normalisation_constants():
    assert len(CLIP_MEAN) == len(CLIP_STD) == 3 and all(0 < s < 1 for s in CLIP_STD)


def test_bad_inputs_raise_clear_errors():
    cfg, model = build()
    video, pose, _ = tiny_batch(cfg)
    with pytest.raises(ValueError, match="expects"):
        model(video[..., :16, :16], pose)
    with pytest.raises(ValueError, match="multiple"):
        model(video, pose[:, :1].repeat(1, 3, 1, 1))
    with pytest.raises(ValueError, match="labels"):
        build_model(cfg, tiny_classes(3)[1:])


@pytest.mark.parametrize(
    "overrides,unused",
    [({"model.readout": "tokens"}, []),
     ({"model.readout": "tokens", "model.sgmc.use_s_ps": False, "model.sgmc.use_s_fw": False},
      ["pose_readout.linear.weight", "pose_readout.linear.bias"])],
    ids=["full", "no-pose-score"],
)
def test_unused_parameters_decide_ddp_find_unused(overrides, unused):
    # DDP runs with find_unused_parameters only when a trainable parameter feeds no loss term
    from pevl.train.distributed import unused_parameters

    cfg, model = build(overrides)
    assert unused_parameters(model, build_loss(cfg), cfg, torch.device("cpu")) == unused
    assert all(p.grad is None for p in model.parameters())  # gradients cleared afterwards
