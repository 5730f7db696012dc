"""The shipped SynthDive pose models through the rtmlib backend and tracker, checked against ground truth.

Unlike tests/test_pose_rtmlib.py (random-weight stand-ins), these run the real shipped weights on
freshly rendered SynthDive clips at two stored sizes and two aspect ratios, so a wrong letterbox
scale, affine crop, SimCC decoding or map back to stored-frame pixels fails here.
"""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from pevl.pretrain.poses.data import ClipSample, render_clip
from pevl.pretrain.poses.eval import context_for
from pevl.pretrain.poses.export import DET_FILE, POSE_FILE, sha256
from pevl.pretrain.poses.models import KeypointNet, SimccHead
from pevl.pretrain.poses.samples import letterbox, pose_crop
from pose_extraction import build_estimator
from pose_extraction.models import resolve_model
from schemas import PoseConfig

SHIPPED = Path(__file__).resolve().parents[1] / "pevl" / "assets" / "models" / "pose"
# render seed 4500: the evaluation range (4000-4999), which no training render and no config uses
SEED = 4500
# (render width, height, stored short side): demo 128x96 (4:3) and a real-preset 456x256 (16:9),
# and the other two combinations
SIZES = [(160, 120, 96), (456, 256, 256), (212, 120, 96), (320, 240, 256)]


def shipped_config(**rtmlib) -> PoseConfig:
    """The configuration configs use for the shipped models."""
    return PoseConfig(backend="rtmlib", rtmlib=dict(
        det_model=f"builtin:pose/{DET_FILE}", pose_model=f"builtin:pose/{POSE_FILE}", det_input_size=(96, 128),
        pose_input_size=(64, 64), download=False, threads=1, **rtmlib))


@pytest.fixture(scope="module")
def estimator():
    return build_estimator(shipped_config(), Path("/nonexistent"))


def _above_water(clip: ClipSample) -> np.ndarray:
    return (clip.joints[..., 2] > 0).sum(1) >= 12  # (T,) most of the body in view


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}-short{s[2]}")
def test_shipped_models_land_joints_on_the_diver(estimator, size):
    clips = [render_clip(SEED, i, size) for i in range(3)]
    errors, inside, frames = [], [], 0
    for clip in clips:
        track = estimator.estimate(clip.frames, context_for(clip))
        assert track.keypoints.shape == (16, 17, 3)
        for t in np.nonzero(_above_water(clip))[0]:
            frames += 1
            seen = clip.joints[t, :, 2] > 0
            truth = clip.joints[t, seen, :2]
            diag = np.hypot(*(clip.boxes[t, 2:] - clip.boxes[t, :2]))
            assert track.bboxes[t].any(), f"diver missed in frame {t}"
            errors.append(np.linalg.norm(track.keypoints[t, seen, :2] - truth, axis=1) / diag)
            x1, y1, x2, y2 = track.bboxes[t]
            inside.append((truth[:, 0] >= x1 - 2) & (truth[:, 0] <= x2 + 2) & (truth[:, 1] >= y1 - 2) & (truth[:, 1] <= y2 + 2))
    assert frames >= 12
    errors, inside = np.concatenate(errors), np.concatenate(inside)
    # measured on the shipped models: median ~0.04 box diagonals, 80-90 % of joints within 0.1;
    # scaling the joints by 5 % or moving them by 3 % of the frame width already doubles the median
    assert np.median(errors) < 0.07, np.median(errors)
    assert (errors < 0.1).mean() > 0.7, (errors < 0.1).mean()
    assert inside.mean() > 0.93, inside.mean()


def test_shipped_files_match_their_record():
    record = json.loads((SHIPPED / "training.json").read_text())
    for name in (DET_FILE, POSE_FILE):
        assert record["files"][name]["sha256"] == sha256(SHIPPED / name)
        assert resolve_model(f"builtin:pose/{name}") == (SHIPPED / name).resolve()
    assert sum((SHIPPED / n).stat().st_size for n in (DET_FILE, POSE_FILE)) < 10 * 2**20
    assert 3000 <= record["settings"]["train_seed"] < 4000 and 4000 <= record["settings"]["eval_seed"] < 5000


def test_shipped_files_have_rtmlibs_signatures(estimator):
    det = estimator.detect.det.session
    pose = estimator.detect.pose.session
    assert [o.name for o in det.get_outputs()] == ["dets", "labels"]
    dets, labels = det.run(None, {det.get_inputs()[0].name: np.zeros((1, 3, 96, 128), np.float32)})
    assert dets.ndim == 3 and dets.shape[2] == 5 and labels.shape == dets.shape[:2]
    simcc_x, simcc_y = pose.run(None, {pose.get_inputs()[0].name: np.zeros((1, 3, 64, 64), np.float32)})
    assert simcc_x.shape == (1, 17, 128) and simcc_y.shape == (1, 17, 128)


def test_simcc_head_peak_decodes_to_the_heatmap_cell_through_rtmlib():
    """A heatmap peak at cell (u, v) must come back from rtmlib's decoding at crop pixel (2u + 0.5, 2v + 0.5)."""
    from rtmlib import RTMPose
    from rtmlib.tools.pose_estimation.pre_processings import bbox_xyxy2cs, top_down_affine

    u, v = 9, 23

    class Fixed(torch.nn.Module):
        def forward(self, x):
            heat = torch.full((1, 17, 32, 32), -20.0) + 0 * x.mean()
            heat[:, :, v, u] = 20.0
            return heat, torch.full((1, 17), 3.0)

    head = SimccHead(KeypointNet(joints=17), (64, 64))
    head.net = Fixed()
    simcc_x, simcc_y = head(torch.zeros(1, 3, 64, 64))
    box = np.array([10.0, 20.0, 50.0, 100.0])
    frame = np.zeros((120, 160, 3), np.uint8)
    _, affine = pose_crop(frame, box, (64, 64))
    center, scale = bbox_xyxy2cs(box, padding=1.25)
    _, scale = top_down_affine((64, 64), scale, center, frame)
    pose = RTMPose.__new__(RTMPose)
    pose.model_input_size = (64, 64)
    kpts, scores = pose.postprocess([simcc_x.numpy(), simcc_y.numpy()], center, scale)
    expected = cv2.invertAffineTransform(affine) @ np.array([2 * u + 0.5, 2 * v + 0.5, 1.0])
    np.testing.assert_allclose(kpts[0], np.tile(expected, (17, 1)), atol=0.5 * scale[0] / 64 + 1e-3)
    np.testing.assert_allclose(scores, 1 / (1 + np.exp(-3.0)), atol=0.02)


def test_letterbox_is_rtmlibs():
    from rtmlib import YOLOX

    frame = np.random.default_rng(0).integers(0, 255, (256, 456, 3), np.uint8)
    image, ratio = letterbox(frame, (96, 128))
    yolox = YOLOX.__new__(YOLOX)
    yolox.model_input_size = (96, 128)
    expected, expected_ratio = yolox.preprocess(frame)
    assert ratio == expected_ratio and np.array_equal(image, expected)
