"""UCMR parts: the P2V weighted pose mask and the V2P patch grouping / grouped attention."""

import torch
from tiny_model import one_thread, tiny_batch, tiny_cfg, tiny_classes  # noqa: F401 (autouse fixture)

from pevl.model import build_model
from pevl.model.attention import ResidualAttention
from pevl.model.geometry import patch_centres
from pevl.model.p2v import pose_mask
from pevl.model.pose_encoder import render_heatmaps
from pevl.model.v2p import group_patches

GRID = (8, 8)


def patch_of(x: float, y: float, grid=GRID) -> int:
    return int(y * grid[0]) * grid[1] + int(x * grid[1])


def test_pose_mask_peaks_at_the_joints():
    xy = torch.tensor([[[0.30, 0.60], [0.80, 0.15]]])
    m = pose_mask(xy, torch.tensor([[1.0, 1.0]]), GRID, sigma=0.05, samples=4)
    assert m.shape == (1, 64)
    assert 0.0 <= m.min() and m.max() <= 1.0
    top2 = set(m[0].topk(2).indices.tolist())
    assert top2 == {patch_of(0.30, 0.60), patch_of(0.80, 0.15)}
    assert m[0, patch_of(0.05, 0.95)] < 1e-3  # far from both joints


def test_pose_mask_weights_scale_the_joints_and_zero_weight_contributes_nothing():
    xy = torch.tensor([[[0.30, 0.60], [0.80, 0.15], [0.55, 0.55]]])
    w = torch.tensor([[1.0, 0.25, 0.0]])
    m = pose_mask(xy, w, GRID, sigma=0.05, samples=4)
    assert m[0, patch_of(0.30, 0.60)] > m[0, patch_of(0.80, 0.15)] > 0
    moved = xy.clone()
    moved[0, 2] = torch.tensor([0.05, 0.95])
    torch.testing.assert_close(pose_mask(moved, w, GRID, 0.05, 4), m, rtol=0, atol=0)
    without = pose_mask(xy[:, :2], w[:, :2], GRID, 0.05, 4)
    torch.testing.assert_close(without, m, rtol=0, atol=0)


def test_pose_mask_without_confident_joints_is_uniform():
    m = pose_mask(torch.rand(2, 17, 2), torch.zeros(2, 17), GRID, 0.05, 4)
    assert torch.equal(m, torch.ones(2, 64))


def test_p2v_mask_of_the_model_follows_the_pose():
    torch.manual_seed(0)
    cfg = tiny_cfg({"model.image_size": 64})
    model = build_model(cfg, tiny_classes())
    video, pose, _ = tiny_batch(cfg, batch=1)
    pose[..., 2] = 0.0
    pose[0, :, 5] = torch.tensor([0.2, 0.7, 1.0])  # one confident joint
    out = model(video, pose)
    assert out.pose_mask.shape == (1, 2, 64)
    assert (out.pose_mask[0].argmax(-1) == patch_of(0.2, 0.7)).all()


def test_v2p_groups_patches_with_nearest_joint_else_background():
    centres = patch_centres(GRID)
    # joint 0 at patch (row 1, col 1), joint 1 at patch (row 6, col 6), joint 2 is not confident
    xy = torch.tensor([[[1.5 / 8, 1.5 / 8], [6.5 / 8, 6.5 / 8], [3.5 / 8, 3.5 / 8]]])
    score = torch.tensor([[0.9, 0.8, 0.1]])
    g = group_patches(xy, score, centres, GRID, radius=1.5, threshold=0.3)[0].view(8, 8)
    assert g[1, 1] == 0 and g[0, 0] == 0 and g[2, 2] == 0  # within 1.5 patches of joint 0
    assert g[6, 6] == 1 and g[7, 5] == 1
    assert g[3, 3] == 3 and g[0, 7] == 3 and g[7, 0] == 3  # background (K = 3)
    assert (g == 2).sum() == 0  # the low-score joint groups nothing
    g_far = group_patches(xy, score, centres, GRID, radius=100.0, threshold=0.3)[0].view(8, 8)
    assert g_far[3, 3] == 0 and g_far[4, 4] == 1  # nearest joint wins when all are in range


def test_grouped_attention_gives_zero_update_to_empty_groups():
    torch.manual_seed(0)
    attn = ResidualAttention(16, 4)
    torch.nn.init.normal_(attn.out.weight)
    q, kv = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    allowed = torch.zeros(2, 3, 5, dtype=torch.bool)
    allowed[:, 0, :2] = True
    allowed[:, 2] = True
    out = attn(q, kv, allowed=allowed)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[:, 1], q[:, 1], rtol=0, atol=0)  # empty group: unchanged
    assert not torch.allclose(out[:, 0], q[:, 0])
    # keys outside the group do not matter
    kv2 = kv.clone()
    kv2[:, 2:] = torch.randn(2, 3, 16)
    torch.testing.assert_close(attn(q, kv2, allowed=allowed)[:, 0], out[:, 0])


def test_v2p_in_the_model_is_finite_with_every_joint_missing():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    model = build_model(cfg, tiny_classes())
    video, pose, _ = tiny_batch(cfg)
    pose[..., 2] = 0.0
    out = model(video, pose)
    assert torch.isfinite(out.logits).all()
    assert (out.groups == cfg.num_joints).all()  # every patch with the background token


def test_heatmaps_peak_at_joints_in_their_channel():
    pose = torch.tensor([[[8.5 / 32, 24.5 / 32, 1.0], [0.5, 0.5, 0.0], [0.75, 0.25, 0.5]]])
    heat = render_heatmaps(pose, (32, 32), sigma=0.05)
    assert heat.shape == (1, 3, 32, 32) and heat.max() <= 1.0
    assert heat[0, 0].flatten().argmax() == 24 * 32 + 8  # joint 0 -> channel 0, pixel (x=8, y=24)
    assert heat[0, 1].max() == 0.0  # joint 1 missing (score 0)
    assert abs(heat[0, 2].max().item() - 0.5) < 0.05  # joint 2 peak = its score
