"""The linear probes (pevl/eval/linear_probe.py): the fit, the pose features, and the probe on real shards."""

import json

import numpy as np
import pytest

from train_fixtures import tiny_config, write_fixture_shards


def _blobs(rng: np.random.Generator, n: int, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, len(centres), n)
    return (centres[y] + rng.normal(0, 1.0, (n, centres.shape[1]))).astype(np.float32), y.astype(np.int64)


def test_fit_reads_separable_classes_and_not_shuffled_labels():
    from pevl.eval.linear_probe import fit_logistic

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3.0, (4, 20))
    a, ya = _blobs(rng, 200, centres)
    b, yb = _blobs(rng, 200, centres)
    fit = fit_logistic(a, ya, b, yb, l2=0.01, num_classes=4)
    assert fit["train"] > 0.95 and fit["test"] > 0.9
    shuffled = fit_logistic(a, rng.permutation(ya), b, yb, l2=0.01, num_classes=4)
    assert shuffled["test"] < 0.45  # chance 0.25: a fit that memorised noise does not transfer
    assert fit_logistic(a, ya, b, yb, l2=0.01, num_classes=4) == fit  # deterministic


def _shapes(rng: np.random.Generator, n: int, frames: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Clips of 17 joints on a line (class 0) or on a circle (class 1), anywhere, at any size, jittered."""
    y = rng.integers(0, 2, n)
    angle = np.linspace(0, 2 * np.pi, 17, endpoint=False)
    line = np.stack([np.linspace(-1, 1, 17), np.zeros(17)], 1)
    circle = np.stack([np.cos(angle), np.sin(angle)], 1)
    pose = np.ones((n, frames, 17, 3), np.float32)
    for i in range(n):
        base = (circle if y[i] else line) * rng.uniform(5, 40) + rng.uniform(0, 200, 2)
        pose[i, :, :, :2] = base + rng.normal(0, 0.05 * np.abs(base).std(), (frames, 17, 2))
    return pose, y.astype(np.int64)


def test_pose_vectors_drop_where_and_how_big_the_person_is():
    from pevl.eval.linear_probe import person_centred

    rng = np.random.default_rng(1)
    pose = rng.uniform(0, 50, (2, 4, 17, 3)).astype(np.float32)
    pose[..., 2] = 1.0
    pose[0, 1, 5, 2] = 0.0  # one missing joint
    moved = pose.copy()
    moved[..., :2] = pose[..., :2] * 3.0 + np.array([100.0, -20.0], np.float32)
    a, b = person_centred(pose), person_centred(moved)
    assert a.shape == (2, 4, 51)
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert a[0, 1, 5 * 3 + 2] == 0.0 and a[0, 1, 5 * 3] == 0.0 and a[0, 1, 5 * 3 + 1] == 0.0  # zeros, flag 0
    seen = a[..., 2::3] > 0
    xy = np.stack([a[..., 0::3], a[..., 1::3]], -1)
    np.testing.assert_allclose(np.sqrt((xy[seen] ** 2).sum(-1).mean()), 1.0, atol=0.1)  # clip RMS scale ~1


def test_fourier_frame_mean_reads_body_shape_anywhere():
    from pevl.eval.linear_probe import JOINT_READOUTS, fit_logistic

    rng = np.random.default_rng(2)
    a, ya = _shapes(rng, 200)
    b, yb = _shapes(rng, 100)
    read = JOINT_READOUTS["joints_fourier_frame_mean"]
    fit = fit_logistic(read(a, 6, (6, 6)), ya, read(b, 6, (6, 6)), yb, l2=0.1, num_classes=2)
    assert fit["test"] > 0.95, fit
    moved = a.copy()
    moved[..., :2] = a[..., :2] * 0.5 + 30.0
    np.testing.assert_allclose(read(moved, 6, (6, 6)), read(a, 6, (6, 6)), atol=1e-3)  # the same bodies elsewhere, smaller


def test_heatmap_mean_says_which_patch_holds_each_joint():
    from pevl.eval.linear_probe import JOINT_READOUTS, heatmap_mean, video_frames

    pose = np.zeros((1, 4, 17, 3), np.float32)
    pose[0, :, :, :2] = 0.5 / 6  # every joint at the centre of the top-left patch of a 6 x 6 grid
    pose[0, :, 3, :2] = (5.5 / 6, 2.5 / 6)  # joint 3: row 2, column 5
    pose[0, :2, :, 2] = 1.0  # seen in frames 0-1 only
    maps = heatmap_mean(pose, (6, 6), sigma=0.5).reshape(17, 6, 6)
    assert np.unravel_index(maps[0].argmax(), (6, 6)) == (0, 0)
    assert np.unravel_index(maps[3].argmax(), (6, 6)) == (2, 5)
    np.testing.assert_allclose(maps[0, 0, 0], 0.5, atol=1e-6)  # peak 1 in 2 of the 4 frames: missing joints add nothing
    assert maps[0, 0, 3] < 1e-3  # 3 patches away
    ordered = np.arange(16, dtype=np.float32).reshape(1, 16, 1, 1) * np.ones((1, 16, 17, 3), np.float32)
    np.testing.assert_array_equal(video_frames(ordered, 8)[0, :, 0, 0], np.arange(0, 16, 2))  # align: pick
    with pytest.raises(ValueError, match="not a multiple"):
        video_frames(ordered, 5)
    assert JOINT_READOUTS["joints_heatmap_video_frames"](ordered, 8, (4, 4)).shape == (1, 17 * 16)


@pytest.mark.slow
def test_probe_on_fixture_shards_reads_the_quadrant(tmp_path):
    """Fixture clips: a bright square in the class's quadrant. Even a random frozen backbone keeps where
    it is in its patch tokens, so the frame-mean tokens separate the classes on held-out clips, while a
    readout that averages the patches away cannot."""
    from pevl.eval.linear_probe import main, probe

    cfg = tiny_config(tmp_path, ["train.crop=frame"])
    shards = write_fixture_shards(cfg, train_per_class=8, test_per_class=4)
    result = probe(cfg, shards, l2_weights=(0.1, 0.01))
    assert (result["train_clips"], result["test_clips"], result["classes"]) == (32, 16, 4)
    mean_tokens = result["readouts"]["frame_mean_tokens"]
    assert mean_tokens["features"] == (1 + 4 * 4) * 64  # 32 px frames, 8 px patches, width 64
    assert mean_tokens["best_test"] >= 0.9, result  # measured 1.0 for fixture seeds 0-2
    # the mean over a frame's patch tokens drops where the square is: chance (0.25) or near it
    assert result["readouts"]["frames_token_mean"]["best_test"] <= 0.5, result
    assert set(result["readouts"]) == {"frame_mean_tokens", "frames_class_token", "frames_token_mean",
                                       "joints_fourier_frame_mean", "joints_frames_concat",
                                       "joints_heatmap_frame_mean", "joints_heatmap_video_frames"}
    assert result["readouts"]["joints_frames_concat"]["features"] == 4 * 17 * 3  # 4 pose frames x K x (x, y, seen)
    assert result["readouts"]["joints_heatmap_frame_mean"]["features"] == 17 * 4 * 4  # the backbone's 4 x 4 patch grid

    out = tmp_path / "probe.json"
    config = tmp_path / "probe-config.yaml"
    from schemas import save_config

    save_config(cfg, config)
    assert main([str(config), "--shards", str(shards), "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["readouts"]["frame_mean_tokens"]["best_test"] >= 0.9
    with pytest.raises(SystemExit):  # no shards there: a clear usage error, not a traceback
        main([str(config), "--shards", str(tmp_path / "missing")])
