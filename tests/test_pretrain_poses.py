"""`pevl pretrain poses` end to end at toy size, and the training targets it relies on."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from pevl.cli import main
from pevl.pretrain.poses.data import render_clip
from pevl.pretrain.poses.samples import detector_set, keypoint_set
from pevl.pretrain.poses.train import detector_targets


def test_pretrain_poses_writes_models_hashes_and_figures(tmp_path, capsys):
    out = tmp_path / "pose"
    code = main(["pretrain", "poses", "--out", str(out), "--train-clips", "4", "--det-steps", "3", "--pose-steps", "3",
                 "--batch-size", "4", "--eval-clips", "4", "--train-seed", "3999", "--eval-seed", "4999"])
    assert code == 0
    record = json.loads((out / "training.json").read_text())
    assert record["settings"]["train_seed"] == 3999 and record["settings"]["det_steps"] == 3
    assert len(record["data"]["sha256"]) == 64 and record["data"]["detector_images"] == 4 * 16
    overall = record["evaluation"]["overall"]
    assert 0.0 <= overall["detection_rate"] <= 1.0 and 0.0 <= overall["pck_0.1"] <= 1.0
    det = ort.InferenceSession(str(out / "synthdive_det.onnx"))
    dets, labels = det.run(None, {"input": np.zeros((1, 3, 96, 128), np.float32)})
    assert dets.shape == (1, 5, 5) and labels.shape == (1, 5)
    pose = ort.InferenceSession(str(out / "synthdive_pose.onnx"))
    simcc_x, simcc_y = pose.run(None, {"input": np.zeros((1, 3, 64, 64), np.float32)})
    assert simcc_x.shape == (1, 17, 128) and simcc_y.shape == (1, 17, 128)
    assert "pose models in" in capsys.readouterr().out


def test_samples_keep_the_diver_where_rtmlib_puts_it():
    clip = render_clip(3999, 0, (320, 240, 256), frames=4)  # stored 342x256
    assert clip.frames.shape[1:] == (256, 342, 3)
    data = detector_set([clip], (96, 128))
    np.testing.assert_allclose(data.boxes[:, 0], clip.boxes * min(96 / 256, 128 / 342), rtol=1e-5)
    assert not data.boxes[:, 1].any()  # no second person pasted
    crops = keypoint_set([clip], (64, 64), crops_per_frame=1, seed=0)
    seen = crops.visible > 0
    assert seen.any() and (crops.joints[seen] >= 0).all() and (crops.joints[seen] <= 63).all()


def test_detector_targets_peak_at_each_box_centre():
    boxes = torch.tensor([[[8.0, 8.0, 24.0, 40.0], [60.0, 20.0, 92.0, 60.0]], [[0, 0, 0, 0], [0, 0, 0, 0]]])
    t = detector_targets(boxes, (24, 32))
    assert t["heat"].shape == (2, 1, 24, 32) and not t["heat"][1].any()
    assert t["heat"][0, 0, 6, 4] == 1.0 and t["heat"][0, 0, 10, 19] == 1.0  # centres (16, 24) and (76, 40) / 4
    assert t["index"][0].tolist() == [6 * 32 + 4, 10 * 32 + 19]
    np.testing.assert_allclose(t["log_size"][0, 0], np.log([16 / 16, 32 / 16]))
    assert t["present"].tolist() == [[1.0, 1.0], [0.0, 0.0]]


def test_pretrain_poses_deployment_is_registered():
    from flows.deployments import DEPLOYMENTS, PRETRAIN_POSES, pretrain_deployments

    (poses,) = [d for d in pretrain_deployments() if d.name == PRETRAIN_POSES]
    assert poses.entrypoint == "flows.pretrain_poses.pretrain_poses_flow" and PRETRAIN_POSES in DEPLOYMENTS


def test_missing_builtin_model_is_named():
    from pose_extraction import ModelNotFoundError
    from pose_extraction.models import builtin_models_dir, resolve_model

    with pytest.raises(ModelNotFoundError, match="absent.onnx"):
        resolve_model("builtin:pose/absent.onnx")
    assert (builtin_models_dir() / "pose" / "synthdive_det.onnx").is_file()
