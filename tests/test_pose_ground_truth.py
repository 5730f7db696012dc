"""Ground-truth pose backend: frame picking, scaling to the stored size, each noise type, determinism."""

from pathlib import Path

import numpy as np
import pytest

from pose_extraction import FrameContext, build_estimator
from pose_extraction.ground_truth import COCO_FLIP_PAIRS, DROPPED_SCORE_MAX, GroundTruthEstimator
from schemas import PoseConfig

T_SRC, K = 30, 17
SOURCE_SIZE = (320, 240)  # width, height
STORED = (8, 60, 80)  # T, H, W: half the source size
INDICES = (0, 4, 8, 12, 16, 20, 24, 29)


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    """A dataset root with keypoints/-x_01.npy: joint k of frame t at (10 k + t, 5 k + 2 t), joint 3 unseen."""
    t, k = np.meshgrid(np.arange(T_SRC), np.arange(K), indexing="ij")
    joints = np.stack([10.0 * k + t, 5.0 * k + 2.0 * t, np.ones((T_SRC, K))], axis=2).astype(np.float32)
    joints[:, 3, 2] = 0.0
    (tmp_path / "keypoints").mkdir()
    np.save(tmp_path / "keypoints" / "-x_01.npy", joints)
    return tmp_path


def context(root: Path, clip_id: str = "-x_01") -> FrameContext:
    return FrameContext(clip_id=clip_id, source="rgb/-x_01.mp4", dataset_root=root,
                        frame_indices=INDICES, source_size=SOURCE_SIZE)


def frames() -> np.ndarray:
    return np.zeros((*STORED, 3), np.uint8)


def estimate(root: Path, clip_id: str = "-x_01", **noise) -> np.ndarray:
    cfg = PoseConfig(backend="ground_truth", ground_truth=noise)
    return build_estimator(cfg, root).estimate(frames(), context(root, clip_id)).keypoints


def test_clean_keypoints_are_picked_and_scaled_to_the_stored_frames(root: Path):
    est = build_estimator(PoseConfig(backend="ground_truth"), root)
    track = est.estimate(frames(), context(root))
    source = np.load(root / "keypoints" / "-x_01.npy")[list(INDICES)]
    assert est.backend == "ground_truth" and est.model == "keypoints"
    assert track.keypoints.shape == (8, K, 3) and track.keypoints.dtype == np.float32
    np.testing.assert_allclose(track.keypoints[..., 0], source[..., 0] * 80 / 320, rtol=1e-6)
    np.testing.assert_allclose(track.keypoints[..., 1], source[..., 1] * 60 / 240, rtol=1e-6)
    np.testing.assert_array_equal(track.keypoints[..., 2], source[..., 2])
    # boxes enclose the seen joints and stay inside the frame
    seen = track.keypoints[0][track.keypoints[0, :, 2] > 0]
    x1, y1, x2, y2 = track.bboxes[0]
    assert x1 <= seen[:, 0].min() and x2 >= seen[:, 0].max() and y1 <= seen[:, 1].min() and y2 >= seen[:, 1].max()
    assert track.bboxes.dtype == np.float32 and track.bboxes.min() >= 0 and track.bboxes[:, 2].max() <= 80


def test_jitter_moves_only_seen_coordinates(root: Path):
    clean, noisy = estimate(root), estimate(root, jitter_px=2.0)
    moved = np.linalg.norm(noisy[..., :2] - clean[..., :2], axis=-1)
    seen = clean[..., 2] > 0
    assert 1.0 < moved[seen].mean() < 4.0
    assert (moved[~seen] == 0).all()
    np.testing.assert_array_equal(noisy[..., 2], clean[..., 2])


def test_dropped_joints_keep_their_place_with_a_low_score(root: Path):
    clean, noisy = estimate(root), estimate(root, drop_prob=0.3)
    dropped = noisy[..., 2] < clean[..., 2]
    assert 0.15 < dropped.mean() < 0.45
    assert (noisy[..., 2][dropped] < DROPPED_SCORE_MAX).all()
    np.testing.assert_array_equal(noisy[..., :2], clean[..., :2])
    assert (noisy[:, 3, 2] == 0).all()  # an unseen joint is not "dropped" into a low positive score


def test_swaps_exchange_left_and_right_joints_of_whole_frames(root: Path):
    clean, noisy = estimate(root), estimate(root, swap_prob=0.5)
    left, right = (list(side) for side in zip(*COCO_FLIP_PAIRS))
    swapped = [t for t in range(len(clean)) if not np.array_equal(noisy[t], clean[t])]
    assert 0 < len(swapped) < len(clean)
    for t in range(len(clean)):
        if t in swapped:
            np.testing.assert_array_equal(noisy[t, left], clean[t, right])
            np.testing.assert_array_equal(noisy[t, right], clean[t, left])
            np.testing.assert_array_equal(noisy[t, 0], clean[t, 0])  # the nose has no side
        else:
            np.testing.assert_array_equal(noisy[t], clean[t])


def test_noise_is_deterministic_per_seed_and_clip(root: Path):
    noise = dict(jitter_px=1.5, drop_prob=0.2, swap_prob=0.3, seed=7)
    first, again = estimate(root, **noise), estimate(root, **noise)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, estimate(root, **{**noise, "seed": 8}))
    assert not np.array_equal(first, estimate(root, clip_id="-x_01#2", **noise))
    assert GroundTruthEstimator(**noise).model == "keypoints+noise(jitter=1.5,drop=0.2,swap=0.3,seed=7)"


def test_missing_keypoints_and_bad_indices_are_clear_errors(root: Path):
    est = build_estimator(PoseConfig(backend="ground_truth"), root)
    other = FrameContext("c", "rgb/other.mp4", root, INDICES, SOURCE_SIZE)
    with pytest.raises(FileNotFoundError, match="other.npy"):
        est.estimate(frames(), other)
    late = FrameContext("-x_01", "rgb/-x_01.mp4", root, INDICES[:-1] + (T_SRC,), SOURCE_SIZE)
    with pytest.raises(ValueError, match="outside the 30 keypoint frames"):
        est.estimate(frames(), late)
    with pytest.raises(FileNotFoundError, match="keypoints"):
        build_estimator(PoseConfig(backend="ground_truth"), root / "elsewhere")
