"""poses.rtmlib.batch_frames: stacked model runs give the detections and tracks of one frame per run.

Real rtmlib on the shipped SynthDive models (as shipped: a fixed batch of 1, so item by item; and a
copy with a symbolic batch, so really stacked) over a rendered SynthDive clip with a second diver
pasted in and an underwater last frame: frames with 0, 1, 2 and 3 people. RTMO (no shipped model)
runs on the random-weight stand-ins exported with a symbolic batch.
"""

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from onnx_batch import with_symbolic_batch
from onnx_models import export_models
from pevl import paths
from pevl.pretrain.poses.data import render_clip
from pevl.pretrain.poses.intruder import add_intruder
from pose_extraction import FrameContext, build_estimator
from pose_extraction.models import resolve_model
from schemas import PipelineConfig, PoseConfig

SHIPPED = {"det_model": "builtin:pose/synthdive_det.onnx", "pose_model": "builtin:pose/synthdive_pose.onnx"}
SIZES = {"det_input_size": (96, 128), "pose_input_size": (64, 64)}
BATCHES = [3, 16]  # 3 does not divide the clip's 7 frames; 16 is more than the clip


class RecordingSession:
    """An onnxruntime session that records the batch size of every run."""

    def __init__(self, session):
        self.session = session
        self.batches: list[int] = []

    def get_inputs(self):
        return self.session.get_inputs()

    def run(self, names, feed):
        self.batches.append(len(next(iter(feed.values()))))
        return self.session.run(names, feed)


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """(7, 96, 128, 3) RGB: the diver, a second one from frame 2, the diver under water in frame 6."""
    diver = render_clip(4600, 1, (160, 120, 96), frames=7)
    return add_intruder(diver, (160, 120), 4600, 1, scale=1.0, first=2)[0].frames


@pytest.fixture(scope="module")
def symbolic(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("symbolic")
    return {name: str(with_symbolic_batch(resolve_model(spec), folder / Path(spec).name)) for name, spec in SHIPPED.items()}


def estimator(models: dict, mode: str = "body", batch_frames: int = 1, sizes: dict = SIZES):
    cfg = PoseConfig(backend="rtmlib", rtmlib=dict(mode=mode, **models, **sizes, download=False, threads=1,
                                                   batch_frames=batch_frames))
    return build_estimator(cfg, Path("/nonexistent"))


def record(detect) -> list[RecordingSession]:
    """Put recording sessions into the estimator's rtmlib tools; returns them in (det, pose) or (rtmo,) order."""
    tools = [detect.rtmo] if hasattr(detect, "rtmo") else [detect.det, detect.pose]
    for tool in tools:
        tool.session = RecordingSession(tool.session)
    return [tool.session for tool in tools]


def assert_same(batched, single) -> None:
    """Per-frame Detections, or PoseTracks, equal within 1e-4 px and scores within 1e-5."""
    assert len(batched) == len(single)
    for got, want in zip(batched, single):
        assert got.boxes.shape == want.boxes.shape
        np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-4)
        np.testing.assert_allclose(got.keypoints, want.keypoints, atol=1e-4)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-5)


def context(frames: np.ndarray) -> FrameContext:
    return FrameContext("clip", "rgb/clip.mp4", Path("/nonexistent"), tuple(range(len(frames))), (160, 120))


def chunks(bgr: list[np.ndarray], size: int) -> list[list[np.ndarray]]:
    return [bgr[i:i + size] for i in range(0, len(bgr), size)]


@pytest.mark.parametrize("batch", BATCHES)
def test_stacked_runs_of_the_shipped_models_give_the_same_detections_and_track(clip, symbolic, batch):
    single, batched = estimator(symbolic), estimator(symbolic, batch_frames=batch)
    bgr = [cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) for frame in clip]
    want = [single.detect(image) for image in bgr]
    assert {0, 2, 3} <= {len(d) for d in want}  # the clip has frames with nobody and with several people
    det_runs, pose_runs = record(batched.detect)
    got = [d for part in chunks(bgr, batch) for d in batched.detect.many(part)]
    assert_same(got, want)
    # one detector run per chunk of frames, one RTMPose run per chunk over all its people
    assert det_runs.batches == [len(part) for part in chunks(bgr, batch)]
    people = [sum(len(d) for d in want[i:i + batch]) for i in range(0, len(want), batch)]
    assert pose_runs.batches == [n for n in people if n]

    track, reference = batched.estimate(clip, context(clip)), single.estimate(clip, context(clip))
    np.testing.assert_allclose(track.bboxes, reference.bboxes, atol=1e-4)
    np.testing.assert_allclose(track.keypoints[..., :2], reference.keypoints[..., :2], atol=1e-4)
    np.testing.assert_allclose(track.keypoints[..., 2], reference.keypoints[..., 2], atol=1e-5)
    assert track.bboxes[:6].any(axis=1).all() and not track.bboxes[6].any()


def test_a_fixed_batch_model_runs_item_by_item_and_says_so_once(clip, caplog):
    single = estimator(SHIPPED)
    with caplog.at_level(logging.INFO, logger="pose_extraction.batching"):
        batched = estimator(SHIPPED, batch_frames=3)
    said = [r.getMessage() for r in caplog.records if "fixed batch dimension" in r.getMessage()]
    assert len(said) == 2 and "synthdive_det.onnx" in said[0] and "synthdive_pose.onnx" in said[1]
    det_runs, pose_runs = record(batched.detect)
    track, reference = batched.estimate(clip, context(clip)), single.estimate(clip, context(clip))
    assert set(det_runs.batches) == {1} and len(det_runs.batches) == len(clip) and set(pose_runs.batches) == {1}
    np.testing.assert_array_equal(track.keypoints, reference.keypoints)
    np.testing.assert_array_equal(track.bboxes, reference.bboxes)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pose_extraction.batching"):
        estimator(SHIPPED)  # batch_frames 1: nothing to say
    assert not caplog.records


def test_stacked_rtmo_runs_give_the_same_detections(tmp_path):
    models = export_models(tmp_path, dynamic_batch=True)
    sizes = {"det_input_size": (640, 640)}
    rtmo = {"det_model": str(models["det"]), "pose_model": str(models["rtmo"])}
    single, batched = estimator(rtmo, "rtmo", sizes=sizes), estimator(rtmo, "rtmo", batch_frames=2, sizes=sizes)
    frames = np.full((5, 96, 128, 3), 40, np.uint8)  # grey; a white person moving right, a red one in frames 3-4
    for t in range(4):
        frames[t, 24:72, 10 + 20 * t:34 + 20 * t] = 255
    frames[3:, 4:92, 80:124] = (0, 0, 255)  # BGR red
    bgr = list(frames)
    want = [single.detect(image) for image in bgr]
    assert [len(d) for d in want] == [1, 1, 1, 2, 1]
    (runs,) = record(batched.detect)
    assert_same([d for part in chunks(bgr, 2) for d in batched.detect.many(part)], want)
    assert runs.batches == [2, 2, 1]


def test_batch_frames_is_not_part_of_the_poses_cache_key():
    base = PipelineConfig.model_validate({"poses": {"backend": "rtmlib", "rtmlib": SHIPPED}})
    batched = base.model_copy(update={"poses": base.poses.model_copy(
        update={"rtmlib": base.poses.rtmlib.model_copy(update={"batch_frames": 8})})})
    assert batched.poses.rtmlib.batch_frames == 8
    assert paths.poses_hash(batched) == paths.poses_hash(base)
    other_model = PipelineConfig.model_validate({"poses": {"rtmlib": {**SHIPPED, "pose_input_size": (96, 96)}}})
    assert paths.poses_hash(other_model) != paths.poses_hash(base)


def test_batch_frames_below_one_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="batch_frames"):
        PoseConfig(rtmlib={"batch_frames": 0})
