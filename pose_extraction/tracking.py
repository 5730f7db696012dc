"""Main-person selection and tracking: per-frame detections of a clip -> one person's PoseTrack.

The main person is chosen in the first frame that has any detection, by size and centrality;
later frames keep the detection that best continues the last match (box IoU, keypoint
displacement). A frame where nothing continues it gets score 0 and a zero box, and the last
match stays the reference, so the person is picked up again when it reappears.
"""

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pose_extraction.types import PoseTrack

# joints below this score do not count for keypoint continuity
_KPT_THR = 0.3


@dataclass(frozen=True)
class Detections:
    """Every person found in one frame.

    Attributes:
        boxes: (M, 4) float32 x1, y1, x2, y2 in frame pixels.
        keypoints: (M, K, 2) float32 x, y in frame pixels.
        scores: (M, K) float32 in [0, 1].
    """

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    @staticmethod
    def empty(num_joints: int) -> "Detections":
        """No person in this frame."""
        return Detections(
            np.zeros((0, 4), np.float32), np.zeros((0, num_joints, 2), np.float32), np.zeros((0, num_joints), np.float32)
        )

    def __len__(self) -> int:
        return len(self.boxes)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box with each of `boxes`. Args: box (4,), boxes (M, 4) xyxy. Returns (M,)."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = _area(box[None])[0] + _area(boxes) - inter
    return inter / np.maximum(union, 1e-6)


def prominence(boxes: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """Size x centrality of each box, in [0, 1]. Args: boxes (M, 4); frame_size (width, height)."""
    width, height = frame_size
    size = np.sqrt(_area(boxes) / float(width * height))
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    offset = np.linalg.norm(centres - np.array([width / 2, height / 2]), axis=1)
    centrality = np.clip(1.0 - offset / (0.5 * np.hypot(width, height)), 0.0, 1.0)
    return size * centrality


def keypoint_jump(ref_kpts: np.ndarray, ref_scores: np.ndarray, ref_box: np.ndarray, dets: Detections) -> np.ndarray:
    """Mean displacement of joints seen in both, in diagonals of the reference box; box centres if none. Returns (M,)."""
    diag = max(float(np.hypot(*(ref_box[2:] - ref_box[:2]))), 1e-6)
    both = (dets.scores > _KPT_THR) & (ref_scores[None] > _KPT_THR)  # (M, K)
    dist = np.linalg.norm(dets.keypoints - ref_kpts[None], axis=2)  # (M, K)
    kpt_mean = (dist * both).sum(1) / np.maximum(both.sum(1), 1)
    centre_dist = np.linalg.norm((dets.boxes[:, :2] + dets.boxes[:, 2:] - ref_box[:2] - ref_box[2:]) / 2, axis=1)
    return np.where(both.any(1), kpt_mean, centre_dist) / diag


def track_main_person(
    frames: Sequence[Detections],
    frame_size: tuple[int, int],
    min_iou: float = 0.1,
    max_jump: float = 1.0,
    num_joints: int = 17,
) -> PoseTrack:
    """Pick the main person and follow it through the clip.

    Args:
        frames: T per-frame Detections, all with the same K.
        frame_size: (width, height) of the frames.
        min_iou: box IoU with the last match that links a detection.
        max_jump: keypoint displacement (in last-box diagonals) that still links a detection.
        num_joints: K when there are no frames to read it from.
    Returns:
        PoseTrack with keypoints (T, K, 3) and bboxes (T, 4); zeros where the person is absent.
    """
    num_joints = frames[0].keypoints.shape[1] if frames else num_joints
    keypoints = np.zeros((len(frames), num_joints, 3), np.float32)
    bboxes = np.zeros((len(frames), 4), np.float32)
    ref: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # box, keypoints, scores of the last match
    for t, dets in enumerate(frames):
        if len(dets) == 0:
            continue
        if ref is None:
            pick = int(np.argmax(prominence(dets.boxes, frame_size)))
        else:
            pick = _continuation(ref, dets, min_iou, max_jump)
            if pick < 0:
                continue
        ref = (dets.boxes[pick], dets.keypoints[pick], dets.scores[pick])
        bboxes[t] = dets.boxes[pick]
        keypoints[t, :, :2] = dets.keypoints[pick]
        keypoints[t, :, 2] = np.clip(dets.scores[pick], 0.0, 1.0)
    return PoseTrack(keypoints=keypoints, bboxes=bboxes)


def _continuation(ref: tuple[np.ndarray, np.ndarray, np.ndarray], dets: Detections, min_iou: float, max_jump: float) -> int:
    """Index of the detection that best continues `ref`, or -1 when none links."""
    ref_box, ref_kpts, ref_scores = ref
    iou = box_iou(ref_box, dets.boxes)
    jump = keypoint_jump(ref_kpts, ref_scores, ref_box, dets)
    links = ((iou >= min_iou) & (iou > 0)) | (jump <= max_jump)
    if not links.any():
        return -1
    return int(np.argmax(np.where(links, iou - jump, -np.inf)))


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
