"""Loader: frame/joint alignment through crop and flip, epoch length, seeding, node/worker splits."""

import numpy as np
import pytest

from pevl.data.loader import eval_views, make_eval_loader, make_train_loader, steps_per_epoch
from pevl.data.transforms import (
    CropBox, aligned_indices, centre_crop_boxes, crop_frames, crop_pose, flip_permutation, random_crop_box,
    segment_indices,
)
from train_fixtures import tiny_config, write_fixture_shards

H, W, S = 60, 80, 32


def _blob_clip(x: int, y: int, frames: int = 3) -> np.ndarray:
    """Black frames with a 3x3 white square centred on pixel (x, y)."""
    clip = np.zeros((frames, H, W, 3), dtype=np.uint8)
    clip[:, y - 1 : y + 2, x - 1 : x + 2] = 255
    return clip


def _centroid(img: np.ndarray, threshold: int = 0) -> tuple[float, float]:
    weight = img[..., 0].astype(np.float64)
    weight[weight <= threshold] = 0.0
    ys, xs = np.mgrid[: img.shape[0], : img.shape[1]]
    return float((xs * weight).sum() / weight.sum()), float((ys * weight).sum() / weight.sum())


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("flip", [False, True])
def test_joint_follows_its_pixel_through_crop_and_flip(seed, flip):
    x, y = 50, 20
    pose = np.zeros((3, 17, 3), dtype=np.float32)
    pose[:, :, :2] = 5.0  # every other joint far from the blob
    pose[:, :, 2] = 1.0
    pose[:, 5] = (x, y, 0.9)  # left shoulder on the blob
    rng = np.random.default_rng(seed)
    while True:
        box = random_crop_box(H, W, (0.3, 1.0), (0.75, 1.33), rng)
        if box.x0 + 2 <= x < box.x0 + box.w - 2 and box.y0 + 2 <= y < box.y0 + box.h - 2:
            break
    video = crop_frames(_blob_clip(x, y), box, S, flip)
    joints = crop_pose(pose, box, flip)
    shoulder = 6 if flip else 5  # a flip turns the left shoulder into the right one
    u, v, score = joints[1, shoulder]
    cx, cy = _centroid(video[1])
    assert score == pytest.approx(0.9)
    assert abs(u * S - 0.5 - cx) < 0.6 and abs(v * S - 0.5 - cy) < 0.6, (box, u, v, cx, cy)


def test_flip_swaps_coco_left_right_and_is_an_involution():
    perm = flip_permutation(17)
    assert perm[0] == 0 and perm[5] == 6 and perm[6] == 5 and perm[15] == 16
    assert np.array_equal(perm[perm], np.arange(17))


def test_joint_outside_the_crop_gets_score_zero():
    pose = np.array([[[10.0, 10.0, 1.0], [40.0, 30.0, 1.0]]], dtype=np.float32)
    out = crop_pose(pose, CropBox(20, 20, 30, 30), flip=False)
    assert out[0, 0, 2] == 0.0 and out[0, 1, 2] == 1.0


def test_segment_sampling_covers_the_clip_and_aligns_pose_with_video():
    rng = np.random.default_rng(0)
    for total in (4, 16, 33):
        video, pose = aligned_indices(total, 8, 2, None, rng)
        assert pose.shape == (16,) and video.shape == (8,)
        assert np.all(np.diff(pose) >= 0) and pose.min() >= 0 and pose.max() < total
        assert np.array_equal(video, pose.reshape(8, 2)[:, 0])  # video frame t leads its pose group
    for _ in range(10):  # random training frames stay inside their own segment
        assert np.array_equal(segment_indices(32, 8, None, rng) // 4, np.arange(8))
    assert np.array_equal(segment_indices(16, 8, 0.5, None), [1, 3, 5, 7, 9, 11, 13, 15])


def test_eval_views_are_deterministic_clips_times_crops(tmp_path):
    cfg = tiny_config(tmp_path, ["model.pose_frame_ratio=2", "train.crop=frame"])
    assert [b.x0 for b in centre_crop_boxes(H, W, 3)] == [0, 10, 20]
    frames = np.random.default_rng(0).integers(0, 255, (16, H, W, 3), dtype=np.uint8)
    pose = np.random.default_rng(1).uniform(0, 50, (16, 17, 3)).astype(np.float32)
    video, joints = eval_views(frames, pose, cfg, clips=2, crops=3)
    assert video.shape == (6, 4, 32, 32, 3) and joints.shape == (6, 8, 17, 3)
    again = eval_views(frames, pose, cfg, clips=2, crops=3)
    assert np.array_equal(video, again[0]) and np.array_equal(joints, again[1])
    assert not np.array_equal(video[0], video[3])  # the two clips use other frames


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    cfg = tiny_config(tmp_path_factory.mktemp("loader"), ["train.num_workers=2", "train.crop=frame", "train.crop_scale=[0.5,1.0]",
                                                          "train.flip_prob=0.5"])  # the demo configs do not flip
    return cfg, write_fixture_shards(cfg, train_per_class=4, test_per_class=2, per_tar=3)


def test_train_stream_aligns_joints_has_epoch_length_and_is_seeded(shards):
    cfg, folder = shards
    loader, steps = make_train_loader(cfg, folder, epoch=0)
    assert steps == steps_per_epoch(16, 4, 1) == 4
    batches = list(loader)
    assert len(batches) == steps
    flips = 0
    for b in batches:
        assert b["video"].dtype.is_floating_point is False and b["video"].shape == (4, 4, 32, 32, 3)
        for video, pose in zip(b["video"].numpy(), b["pose"].numpy()):
            for t in range(4):  # joint 0 sits on the bright square, after crop and flip alike
                u, v, score = pose[t, 0]
                if score == 0:
                    continue
                cx, cy = _centroid(video[t], threshold=180)
                assert abs(u * 32 - 0.5 - cx) < 1.2 and abs(v * 32 - 0.5 - cy) < 1.2
        flips += int((b["pose"][..., 0, 0] > 0).sum())
    again = [b["key"] for b in make_train_loader(cfg, folder, epoch=0)[0]]
    assert again == [b["key"] for b in batches]  # same epoch, same stream (resume relies on it)
    other = [b["key"] for b in make_train_loader(cfg, folder, epoch=1)[0]]
    assert other != again


@pytest.mark.parametrize("world", [2, 3, 8])
def test_eval_covers_every_sample_once_over_ranks_and_workers(shards, world):
    cfg, folder = shards
    seen = []
    for rank in range(world):
        for b in make_eval_loader(cfg, folder, "test", rank, world):
            seen.extend(b["key"])
    assert sorted(seen) == sorted(f"test_{c}_{i}" for c in range(4) for i in range(2))


def test_train_ranks_draw_disjoint_slices_of_one_stream(shards):
    cfg, folder = shards
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"num_workers": 0, "shuffle_buffer": 0})})
    keys = [[k for b in make_train_loader(cfg, folder, 0, rank, 2)[0] for k in b["key"]] for rank in range(2)]
    single = [k for b in make_train_loader(cfg, folder, 0, 0, 1)[0] for k in b["key"]]
    assert len(keys[0]) == len(keys[1]) == 8  # each rank: half an epoch
    assert keys[0] != keys[1] and single != keys[0]
