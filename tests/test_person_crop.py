"""Person-centred crops (train.crop=person): boxes follow the tracked person; frames and joints stay aligned."""

import numpy as np
import pytest
from schemas.loading import ConfigError

from pevl.data.loader import eval_views
from pevl.data.person_crop import MIN_SIDE_PX, crop_person, person_boxes
from pevl.data.transforms import centre_crop_boxes
from train_fixtures import tiny_config

H, W, S = 96, 128, 32


def _walking_person(frames: int = 8, dx: int = 8, dy: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Black frames with a white 3x3 'nose' moving right and down; 17 joints spread 20 px around it."""
    clip = np.zeros((frames, H, W, 3), dtype=np.uint8)
    pose = np.zeros((frames, 17, 3), dtype=np.float32)
    offsets = np.linspace(-10.0, 10.0, 17)
    offsets[[0, 8]] = offsets[[8, 0]]  # the nose (joint 0) in the middle: a 20 px joint box around it
    for t in range(frames):
        x, y = 30 + dx * t, 30 + dy * t
        clip[t, y - 1 : y + 2, x - 1 : x + 2] = 255
        pose[t, :, 0] = x + offsets
        pose[t, :, 1] = y - offsets
        pose[t, :, 2] = 1.0
    return clip, pose


def _centroid(img: np.ndarray) -> tuple[float, float]:
    weight = img[..., 0].astype(np.float64)
    ys, xs = np.mgrid[: img.shape[0], : img.shape[1]]
    return float((xs * weight).sum() / weight.sum()), float((ys * weight).sum() / weight.sum())


def test_boxes_are_centred_on_the_person_with_one_side_per_clip():
    _, pose = _walking_person()
    boxes = person_boxes(pose, H, W, margin=1.5)
    assert len({(b.w, b.h) for b in boxes}) == 1
    assert boxes[0].w == boxes[0].h == 30  # 1.5 x the 20 px joint extent
    for t, b in enumerate(boxes):
        assert abs(b.x0 + b.w / 2 - (30 + 8 * t)) <= 1 and abs(b.y0 + b.h / 2 - (30 + 4 * t)) <= 1


@pytest.mark.parametrize("flip", [False, True])
def test_the_joint_follows_its_pixel_in_every_frame(flip):
    clip, pose = _walking_person()
    boxes = person_boxes(pose, H, W, margin=1.6, jitter=0.15, rng=np.random.default_rng(3))
    video_idx, pose_idx = np.arange(0, 8, 2), np.arange(8)
    video, joints = crop_person(clip, pose, video_idx, pose_idx, boxes, S, flip)
    assert video.shape == (4, S, S, 3) and joints.shape == (8, 17, 3)
    for i, t in enumerate(video_idx):
        u, v, score = joints[t, 0]  # the nose has no left/right partner: a flip keeps its index
        cx, cy = _centroid(video[i])
        assert score == 1.0
        assert abs(u * S - 0.5 - cx) < 0.6 and abs(v * S - 0.5 - cy) < 0.6, (t, u, v, cx, cy)


def test_boxes_stay_inside_the_frame_and_are_clamped_in_size():
    _, pose = _walking_person()
    pose[..., 0] += 60  # the person walks off the right edge
    boxes = person_boxes(pose, H, W, margin=1.6)
    assert all(0 <= b.x0 and b.x0 + b.w <= W and 0 <= b.y0 and b.y0 + b.h <= H for b in boxes)
    assert person_boxes(pose, H, W, margin=100.0)[0].w == H  # at most the short side
    tiny = pose.copy()
    tiny[..., :2] = pose[:, :1, :2]  # every joint on one point
    assert person_boxes(tiny, H, W, margin=1.6)[0].w == MIN_SIDE_PX


def test_frames_without_a_pose_take_the_interpolated_centre_and_no_pose_falls_back_to_the_centre():
    _, pose = _walking_person()
    pose[3, :, 2] = 0.0  # the detector missed frame 3
    boxes = person_boxes(pose, H, W, margin=1.5)
    assert boxes[3].x0 == (boxes[2].x0 + boxes[4].x0) // 2 or abs(boxes[3].x0 - (boxes[2].x0 + boxes[4].x0) / 2) <= 1
    pose[..., 2] = 0.0
    assert person_boxes(pose, H, W, margin=1.5) == centre_crop_boxes(H, W, 1) * len(pose)


def test_training_jitter_is_seeded_and_evaluation_has_none():
    _, pose = _walking_person()
    draw = [person_boxes(pose, H, W, 1.6, 0.15, np.random.default_rng(s)) for s in (0, 0, 1)]
    assert draw[0] == draw[1] and draw[0] != draw[2]
    assert person_boxes(pose, H, W, 1.6, 0.15, None) == person_boxes(pose, H, W, 1.6)


def test_eval_views_follow_the_person(tmp_path):
    cfg = tiny_config(tmp_path, ["train.crop=person", "model.pose_frame_ratio=2"])
    clip, pose = _walking_person(16, dx=4, dy=2)
    video, joints = eval_views(clip, pose, cfg, clips=2, crops=1)
    assert video.shape == (2, 4, 32, 32, 3) and joints.shape == (2, 8, 17, 3)
    nose = joints[:, :, 0, :2]
    assert np.all(np.abs(nose - 0.5) < 0.08)  # the person stays in the middle of the view


def test_person_crop_with_three_eval_crops_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="eval_crops must be 1 with crop=person"):
        tiny_config(tmp_path, ["train.crop=person", "train.eval_crops=3"])
    cfg = tiny_config(tmp_path, ["train.crop=person"])
    clip, pose = _walking_person()
    with pytest.raises(ConfigError, match="3 spatial crops asked of a model trained with train.crop=person"):
        eval_views(clip, pose, cfg, clips=1, crops=3)  # `pevl evaluate --crops 3` on such a checkpoint
