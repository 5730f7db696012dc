"""Main-person selection and tracking on hand-made per-frame detections."""

import numpy as np
import pytest

from pose_extraction.tracking import Detections, box_iou, prominence, track_main_person

K = 17
FRAME = (200, 100)  # width, height


def person(x1: float, y1: float, x2: float, y2: float, score: float = 0.9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A box with K joints spread on a grid inside it."""
    box = np.array([x1, y1, x2, y2], np.float32)
    grid = np.linspace(0.1, 0.9, K, dtype=np.float32)
    kpts = np.stack([x1 + grid * (x2 - x1), y1 + grid[::-1] * (y2 - y1)], axis=1)
    return box, kpts, np.full(K, score, np.float32)


def frame(*people) -> Detections:
    """Detections of one frame from `person(...)` tuples (none: an empty frame)."""
    if not people:
        return Detections.empty(K)
    boxes, kpts, scores = (np.stack(parts) for parts in zip(*people))
    return Detections(boxes, kpts, scores)


def test_box_iou_and_prominence_reference_values():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(box_iou(boxes[0], boxes), [1.0, 50 / 150, 0.0], rtol=1e-6)
    central = np.array([[90, 40, 110, 60], [0, 0, 20, 20]], np.float32)  # same size: centre vs corner
    score = prominence(central, FRAME)
    assert score[0] > score[1] and score[1] >= 0


def test_picks_the_central_large_person():
    small_central = person(95, 45, 105, 55)
    large_central = person(70, 10, 130, 90)
    large_corner = person(0, 0, 60, 80)
    track = track_main_person([frame(small_central, large_corner, large_central)] * 3, FRAME)
    np.testing.assert_allclose(track.bboxes, np.tile(large_central[0], (3, 1)))


def test_keeps_the_same_person_when_a_larger_one_appears_later():
    frames = []
    for t in range(6):
        walker = person(20 + 4 * t, 30, 50 + 4 * t, 80)  # moves right slowly
        intruder = person(100, 0, 200, 100)  # far bigger and more central once it appears
        frames.append(frame(walker, intruder) if t >= 3 else frame(walker))
    track = track_main_person(frames, FRAME)
    expected_x1 = [20 + 4 * t for t in range(6)]
    np.testing.assert_allclose(track.bboxes[:, 0], expected_x1)
    assert (track.keypoints[:, :, 2] > 0).all()


def test_follows_a_fast_person_by_keypoint_continuity_without_box_overlap():
    # the boxes of consecutive frames do not overlap (IoU 0) but the person moves less than a box diagonal;
    # a distractor of the same size waits far away
    frames = [frame(person(10 + 25 * t, 40, 30 + 25 * t, 80), person(170, 0, 190, 40)) for t in range(5)]
    frames[0] = frame(person(10, 40, 30, 80))  # the distractor is not there when the person is chosen
    track = track_main_person(frames, FRAME, min_iou=0.1, max_jump=1.0)
    np.testing.assert_allclose(track.bboxes[:, 0], [10 + 25 * t for t in range(5)])


def test_frames_without_the_person_get_zero_score_and_box_and_the_person_is_found_again():
    walker = person(40, 20, 80, 90)
    far_away = person(150, 0, 190, 30)
    frames = [frame(), frame(walker), frame(), frame(far_away), frame(walker, far_away)]
    track = track_main_person(frames, FRAME)
    for t in (0, 2, 3):
        assert (track.keypoints[t] == 0).all() and (track.bboxes[t] == 0).all()
    np.testing.assert_allclose(track.bboxes[[1, 4]], np.stack([walker[0], walker[0]]))
    assert track.keypoints.shape == (5, K, 3) and track.keypoints.dtype == np.float32
    assert track.bboxes.dtype == np.float32


def test_scores_are_clipped_to_unit_range():
    box, kpts, scores = person(40, 20, 80, 90)
    scores = np.linspace(-0.5, 1.5, K).astype(np.float32)
    track = track_main_person([Detections(box[None], kpts[None], scores[None])], FRAME)
    assert track.keypoints[..., 2].min() == 0.0 and track.keypoints[..., 2].max() == 1.0


@pytest.mark.parametrize("frames", [[], [frame(), frame()]])
def test_no_detections_at_all(frames):
    track = track_main_person(frames, FRAME)
    assert track.keypoints.shape == (len(frames), K, 3) and track.bboxes.shape == (len(frames), 4)
    assert not track.keypoints.any() and not track.bboxes.any()
