"""The dense joint objective of the tiny CLIP's pretraining (pevl/pretrain/clip/dense.py): crops, targets, a run."""

import json

import numpy as np
import torch

from pevl.pretrain.clip.data import clip_pairs, crop_joints, plan_clips
from pevl.pretrain.clip.dense import joint_targets, random_crops, render
from tiny_model import one_thread  # noqa: F401 (autouse fixture)


def test_crop_joints_are_relative_to_the_box_and_hidden_outside_it():
    joints = np.array([[30.0, 40.0, 1.0], [5.0, 40.0, 1.0], [30.0, 40.0, 0.0]], dtype=np.float32)
    got = crop_joints(joints, (20.0, 30.0, 40.0, 40.0))
    np.testing.assert_allclose(got[0], [0.25, 0.25, 1.0])
    assert got[1, 2] == 0.0 and got[2, 2] == 0.0  # left of the box; not visible in the render


def test_pairs_carry_joints_that_lie_on_the_drawn_diver():
    """A visible joint's pixel differs from the same frame rendered without the diver: the joints follow the crop."""
    plan = plan_clips(1, 1000)[0]
    pair = clip_pairs(plan, 4, random_crop=False, crop="person")[0]
    s = pair.image.shape[0]
    vis = pair.joints[:, 2] > 0
    assert vis.sum() >= 8
    # the diver is the darkest / most saturated thing near the joints: compare the joints' mean
    # colour against the crop's border, which the person box keeps clear of the body
    xy = np.clip((pair.joints[vis, :2] * s).astype(int), 0, s - 1)
    on_body = pair.image[xy[:, 1], xy[:, 0]].astype(float)
    border = np.concatenate([pair.image[0], pair.image[-1], pair.image[:, 0], pair.image[:, -1]]).astype(float)
    assert np.abs(on_body.mean(0) - border.mean(0)).sum() > 20


def test_random_crops_move_the_joints_with_the_pixels():
    """A bright dot drawn at each joint is still under the joint after the crop."""
    gen = torch.Generator().manual_seed(0)
    n, s, size = 16, 72, 48
    joints = torch.rand(n, 1, 3) * 0.6 + 0.2
    joints[..., 2] = 1.0
    images = torch.zeros(n, 3, s, s)
    for i in range(n):
        x, y = (joints[i, 0, :2] * s).long()
        images[i, :, y - 1:y + 2, x - 1:x + 2] = 1.0
    crops, moved = random_crops(images, joints, size, (0.6, 1.0), gen)
    for i in range(n):
        if moved[i, 0, 2] == 0:
            continue
        peak = crops[i, 0].flatten().argmax()
        py, px = divmod(int(peak), size)
        assert abs((px + 0.5) / size - moved[i, 0, 0]) < 2.5 / size
        assert abs((py + 0.5) / size - moved[i, 0, 1]) < 2.5 / size
    assert (moved[..., 2] > 0).sum() >= n // 2


def test_joint_targets_peak_in_the_joints_patch_and_are_zero_when_hidden():
    joints = torch.tensor([[[0.1, 0.1, 1.0], [0.75, 0.4, 1.0], [0.5, 0.5, 0.0]]])
    t = joint_targets(joints, (6, 6))  # (1, 36, 3)
    assert t.shape == (1, 36, 3)
    assert int(t[0, :, 0].argmax()) == 0  # row 0, column 0
    assert int(t[0, :, 1].argmax()) == 2 * 6 + 4  # y 0.4 -> row 2, x 0.75 -> column 4
    assert float(t[0, :, 1].max()) > 0.9 and float(t[0, :, 2].abs().max()) == 0.0


def test_dense_pretraining_teaches_the_patch_tokens_where_the_joints_are(tmp_path):
    """A short run on 24 clips: the head finds the joint's patch far above chance and its first epoch, and the CLI writes a record."""
    from pevl.cli import main
    from pevl.model.backbone import load_clip

    out = tmp_path / "w.pt"
    code = main(["pretrain", "clip", "--joint-weight", "500", "--clips", "24", "--frames-per-clip", "8", "--epochs", "24",
                 "--batch-size", "32", "--lr", "3e-3", "--crop", "person", "--image-size", "48", "--out", str(out),
                 "--work-dir", str(tmp_path / "work"), "--eval-clips", "0"])
    assert code == 0
    record = json.loads(out.with_suffix(".json").read_text())
    history = record["trainer"]["training"]["epochs"]
    chance = 1 / 36
    assert history[-1]["joint_patch_accuracy"] > max(4 * chance, 1.5 * history[0]["joint_patch_accuracy"]), history
    assert history[-1]["loss_joints"] < history[0]["loss_joints"]
    assert record["data"]["samples"] == 24 * 8 and record["config"]["joint_weight"] == 500
    clip = load_clip("pevl-tiny", str(out), 48)
    assert tuple(clip.visual.grid_size) == (6, 6)
    assert (tmp_path / "work" / "joint_head.pt").is_file()


def test_render_is_reproducible():
    a, b = render(3, 1000, 4, "person", 24), render(3, 1000, 4, "person", 24)
    assert a.sha256 == b.sha256 and a.images.shape == (12, 24, 24, 3)
