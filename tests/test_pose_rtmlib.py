"""rtmlib backend end to end (Body pieces and RTMO) on random-weight ONNX stand-ins with rtmlib's signatures.

The stand-ins (tests/onnx_models.py) detect white and red blobs; real weights cannot be downloaded here.
The hub download is mocked in the offline tests below: this machine has no route to the model hub.
"""

import subprocess
import sys
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest

from onnx_models import export_models
from pose_extraction import FrameContext, ModelNotFoundError, build_estimator
from pose_extraction.models import cached_onnx_name
from schemas import PoseConfig

H, W = 96, 128
BLOB_H, BLOB_W = 48, 24


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    return export_models(tmp_path_factory.mktemp("onnx"))


def config(models: dict[str, Path], mode: str, **rtmlib) -> PoseConfig:
    pose = models["rtmo"] if mode == "rtmo" else models["pose"]
    return PoseConfig(backend="rtmlib", rtmlib=dict(mode=mode, det_model=str(models["det"]), pose_model=str(pose), **rtmlib))


def context(num_frames: int) -> FrameContext:
    return FrameContext("clip", "rgb/clip.mp4", Path("/nonexistent"), tuple(range(num_frames)), (W * 2, H * 2))


def blob_frames(xs: list[int | None]) -> tuple[np.ndarray, np.ndarray]:
    """Grey frames with a white BLOB_H x BLOB_W person whose left edge is at xs[t] (None: nobody) + true boxes."""
    frames = np.full((len(xs), H, W, 3), 40, np.uint8)
    boxes = np.zeros((len(xs), 4), np.float32)
    for t, x in enumerate(xs):
        if x is not None:
            frames[t, 24:24 + BLOB_H, x:x + BLOB_W] = 255
            boxes[t] = [x, 24, x + BLOB_W, 24 + BLOB_H]
    return frames, boxes


@pytest.mark.parametrize("mode", ["body", "rtmo"])
def test_end_to_end_follows_the_person_and_zeroes_empty_frames(models, mode, capsys):
    estimator = build_estimator(config(models, mode), Path("/nonexistent"))
    frames, truth = blob_frames([10, 30, 50, None, 90])
    track = estimator.estimate(frames, context(len(frames)))

    assert capsys.readouterr().out == ""  # rtmlib's load prints stay out of our stdout
    assert estimator.backend == "rtmlib"
    assert estimator.model == ("rtmo_standin" if mode == "rtmo" else "yolox_standin+rtmpose_standin")
    assert track.keypoints.shape == (5, 17, 3) and track.keypoints.dtype == np.float32
    assert track.bboxes.shape == (5, 4) and track.bboxes.dtype == np.float32
    np.testing.assert_allclose(track.bboxes, truth, atol=1.0)
    seen = [0, 1, 2, 4]
    scores = track.keypoints[seen, :, 2]
    assert (scores > 0.5).all() and (scores <= 1.0).all()
    for t in seen:
        x1, y1, x2, y2 = truth[t]
        xy = track.keypoints[t, :, :2]
        assert (xy[:, 0] >= x1 - 1).all() and (xy[:, 0] <= x2 + 1).all()
        assert (xy[:, 1] >= y1 - 1).all() and (xy[:, 1] <= y2 + 1).all()
    assert not track.keypoints[3].any() and not track.bboxes[3].any()


@pytest.mark.parametrize("mode", ["body", "rtmo"])
def test_end_to_end_keeps_the_main_person_when_a_larger_one_appears(models, mode):
    frames, truth = blob_frames([40, 42, 44, 46, 48])
    frames[3:, 4:92, 80:124] = (255, 0, 0)  # a larger red person (RGB) enters on the right
    track = build_estimator(config(models, mode), Path("/nonexistent")).estimate(frames, context(5))
    np.testing.assert_allclose(track.bboxes, truth, atol=1.0)


def test_threads_option_gives_sessions_that_many_threads(models):
    estimator = build_estimator(config(models, "body", threads=1), Path("/nonexistent"))
    for tool in (estimator.detect.det, estimator.detect.pose):
        assert tool.session.get_session_options().intra_op_num_threads == 1
    frames, truth = blob_frames([20])
    np.testing.assert_allclose(estimator.estimate(frames, context(1)).bboxes, truth, atol=1.0)


def test_wrong_model_for_the_mode_is_named(models):
    cfg = PoseConfig(backend="rtmlib", rtmlib=dict(mode="rtmo", pose_model=str(models["pose"])))
    with pytest.raises(ValueError, match="rtmpose_standin.onnx.*RTMO"):
        build_estimator(cfg, Path("/nonexistent"))


def test_hub_urls_are_found_in_rtmlibs_cache(models, tmp_path, monkeypatch):
    monkeypatch.delenv("TORCH_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr("rtmlib.tools.file.download_checkpoint", _no_network)
    cfg = PoseConfig(backend="rtmlib")  # the default hub URLs
    cache = tmp_path / "rtmlib" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / cached_onnx_name(cfg.rtmlib.det_model)).write_bytes(models["det"].read_bytes())
    (cache / cached_onnx_name(cfg.rtmlib.pose_model)).write_bytes(models["pose"].read_bytes())
    estimator = build_estimator(cfg, Path("/nonexistent"))
    assert estimator.model == (
        "yolox_m_8xb8-300e_humanart-c2c7a14a+rtmpose-m_simcc-body7_pt-body7_420e-256x192-e48f03d0_20230504"
    )
    frames, truth = blob_frames([60])
    np.testing.assert_allclose(estimator.estimate(frames, context(1)).bboxes, truth, atol=1.0)


def test_missing_hub_model_offline_is_a_clear_error(tmp_path, monkeypatch):
    # the hub download is mocked to fail as it does offline: this machine cannot reach the hub
    attempts = []

    def offline_download(url: str, **_) -> str:
        attempts.append(url)
        return _no_network(url)

    monkeypatch.delenv("TORCH_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr("rtmlib.tools.file.download_checkpoint", offline_download)
    cfg = PoseConfig(backend="rtmlib")
    folder = tmp_path / "rtmlib" / "hub" / "checkpoints"
    with pytest.raises(ModelNotFoundError) as err:
        build_estimator(cfg, Path("/nonexistent"))
    message = str(err.value)
    assert "yolox_m_8xb8-300e_humanart-c2c7a14a.onnx" in message and str(folder) in message
    assert cfg.rtmlib.det_model in message and "name resolution" in message
    assert attempts == [cfg.rtmlib.det_model]

    attempts.clear()
    no_download = PoseConfig(backend="rtmlib", rtmlib=dict(download=False))
    with pytest.raises(ModelNotFoundError, match="download=false"):
        build_estimator(no_download, Path("/nonexistent"))
    assert attempts == []


def test_missing_or_wrong_local_model_files(tmp_path):
    cfg = PoseConfig(backend="rtmlib", rtmlib=dict(det_model=str(tmp_path / "absent.onnx")))
    with pytest.raises(ModelNotFoundError, match="absent.onnx"):
        build_estimator(cfg, tmp_path)
    cfg = PoseConfig(backend="rtmlib", rtmlib=dict(det_model=str(tmp_path / "model.pt")))
    with pytest.raises(ValueError, match="neither an http"):
        build_estimator(cfg, tmp_path)


def test_cuda_without_a_cuda_provider_is_a_clear_error(models):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA: the error path cannot occur")
    with pytest.raises(RuntimeError, match="onnxruntime-gpu"):
        build_estimator(config(models, "body", device="cuda"), Path("/nonexistent"))


def _no_network(url: str, **_) -> str:
    raise URLError("[Errno -3] Temporary failure in name resolution")


def test_importing_pose_extraction_loads_no_backend_and_no_pevl():
    code = "import sys, pose_extraction; print(sorted({'rtmlib', 'onnxruntime', 'torch', 'pevl'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
