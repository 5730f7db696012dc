"""scripts/pose_failures.py: which frames count as detector failures, and the picture on real shards."""

import numpy as np
import pytest

from scripts_import import load_script
from train_fixtures import tiny_config, write_fixture_shards


def _script():
    return load_script("pose_failures")


def _straight_body(frames: int = 3) -> np.ndarray:
    pose = np.zeros((frames, 17, 3), np.float32)
    pose[..., 0] = 50.0
    pose[..., 1] = np.linspace(20, 60, 17)  # head at the top, feet at the bottom
    pose[..., 2] = 1.0
    return pose


def test_frame_errors_measure_shown_detected_frames_only():
    pf = _script()
    truth = _straight_body()
    detected = truth.copy()
    detected[0, :, :2] += 1.0  # a good frame: ~1.4 px
    detected[1, :, 1] = 80.0 - detected[1, :, 1]  # read end to end: head and feet exchanged
    detected[2, :, 2] = 0.1  # no pose given (scores below the threshold)
    errors = pf.frame_errors(truth, detected, min_joints=9)
    assert errors[0] == pytest.approx(np.sqrt(2), abs=1e-5)
    assert errors[1] > 8.0
    assert np.isnan(errors[2])
    hidden = truth.copy()
    hidden[0, :10, 2] = 0.0  # only 7 joints show: the diver does not count as shown
    assert np.isnan(pf.frame_errors(hidden, detected, min_joints=9)[0])


@pytest.mark.slow
def test_script_counts_failures_and_pictures_them(tmp_path, caplog):
    import logging

    pf = _script()
    cfg = tiny_config(tmp_path, ["train.crop=frame"])
    shards = write_fixture_shards(cfg)
    out = tmp_path / "failures.png"
    with caplog.at_level(logging.INFO, logger="pose_failures"):
        assert pf.main(["--truth", str(shards), "--detected", str(shards), "--out", str(out),
                        "--min-joints", "1"]) == 0
    assert "0 of 64 frames (0.0%) off by more than 8 px" in caplog.text  # 8 test clips x 8 frames
    assert not out.exists()
    # the same clip keys with other random joints (fixture seed 1): most frames fail, 8 of them pictured
    other = write_fixture_shards(tiny_config(tmp_path / "other", ["train.crop=frame"]), seed=1)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pose_failures"):
        assert pf.main(["--truth", str(shards), "--detected", str(other), "--out", str(out), "--min-joints", "1"]) == 0
    failed = int(caplog.text.split(" of 64 frames")[0].split()[-1])
    assert failed > 32
    import cv2

    picture = cv2.imread(str(out))
    assert picture.shape == (2 * 48 * pf.SCALE, 4 * 64 * pf.SCALE, 3)  # 2 rows of 4 tiles of 64x48 frames
