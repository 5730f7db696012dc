"""BlazePose's person detector: SSD anchors, box and keypoint decoding, weighted NMS, the body's region.

The detector (`pose_detection.tflite`, 224 x 224, inputs in [-1, 1]) regresses, per anchor, a
face box and four keypoints: the hips' midpoint, a point on the circle around the whole body,
the shoulders' midpoint and a point on the circle around the upper body. The landmark model is
fed the square region centred on the hips whose side is 1.25 x the body circle's diameter,
rotated so the body points up (MediaPipe's pose graphs; the constants below are theirs).
"""

from dataclasses import dataclass

import cv2
import numpy as np

INPUT_SIZE = 224
STRIDES = (8, 16, 32, 32, 32)  # five SSD layers; layers of one stride share a feature map
ANCHORS_PER_LAYER = 2  # aspect ratio 1 plus the interpolated scale
SCORE_CLIP = 100.0
NMS_IOU = 0.3
ROI_SCALE = 1.25


@dataclass(frozen=True)
class BodyRegion:
    """One detected person: the detector's score, its body-circle box, and the rotated square the landmarks see.

    Attributes:
        score: detection score in [0, 1].
        box: (4,) x1, y1, x2, y2 of the body circle in frame pixels (not clipped).
        centre: (2,) x, y of the region's centre (the hips' midpoint) in frame pixels.
        side: the square region's side in frame pixels.
        rotation: radians; 0 when the body stands upright.
    """

    score: float
    box: np.ndarray
    centre: np.ndarray
    side: float
    rotation: float

    def crop_to_frame(self, crop_size: int) -> np.ndarray:
        """(2, 3) affine map from crop pixels (a crop_size square) to frame pixels."""
        c, s = np.cos(self.rotation), np.sin(self.rotation)
        scale = self.side / crop_size
        rot = np.array([[c, -s], [s, c]]) * scale
        offset = self.centre - rot @ np.array([crop_size / 2, crop_size / 2])
        return np.hstack([rot, offset[:, None]])


def anchor_centres() -> np.ndarray:
    """(2254, 2) normalised x, y of the SSD anchors (fixed size 1, so centres are all that matter)."""
    centres = []
    layer = 0
    while layer < len(STRIDES):
        stride = STRIDES[layer]
        same = sum(1 for s in STRIDES[layer:] if s == stride)
        cells = int(np.ceil(INPUT_SIZE / stride))
        ys, xs = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)  # (cells*cells, 2), row-major
        centres.append(np.repeat(grid, ANCHORS_PER_LAYER * same, axis=0))
        layer += same
    return np.concatenate(centres).astype(np.float32)


def letterbox(rgb: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """The detector's input: the frame padded to a centred square, resized, in [-1, 1].

    Args: rgb (H, W, 3) uint8. Returns (1, 224, 224, 3) float32, the square's side in frame pixels
    and the (x, y) padding added on the left and top.
    """
    height, width = rgb.shape[:2]
    side = max(height, width)
    pad = np.array([(side - width) / 2, (side - height) / 2], np.float32)
    square = cv2.copyMakeBorder(rgb, int(pad[1]), side - height - int(pad[1]), int(pad[0]), side - width - int(pad[0]),
                                cv2.BORDER_CONSTANT, value=0)
    image = cv2.resize(square, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    return (image.astype(np.float32) / 127.5 - 1.0)[None], float(side), np.floor(pad)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, score_thr: float) -> list[np.ndarray]:
    """Anchor outputs -> kept detections, each a (13,) row: score, face box cx, cy, w, h, 4 keypoints x, y.

    Args: raw_boxes (2254, 12), raw_scores (2254,) logits, anchors (2254, 2). Coordinates are
    normalised to the letterboxed square.
    """
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.astype(np.float64), -SCORE_CLIP, SCORE_CLIP)))
    keep = scores >= score_thr
    if not keep.any():
        return []
    values = raw_boxes[keep] / INPUT_SIZE
    offsets = np.tile(anchors[keep], 6)  # centres and keypoints are offsets from the anchor; sizes are not
    offsets[:, 2:4] = 0.0
    rows = np.concatenate([scores[keep, None], values + offsets], axis=1)
    return _weighted_nms(rows[np.argsort(-rows[:, 0])])


def _weighted_nms(rows: np.ndarray) -> list[np.ndarray]:
    """MediaPipe's weighted NMS: each cluster (face-box IoU above 0.3 with its best) averaged by score."""
    kept = []
    remaining = rows
    while len(remaining):
        boxes = _xyxy(remaining[:, 1:5])
        overlap = _iou(boxes[0], boxes) > NMS_IOU
        overlap[0] = True
        cluster = remaining[overlap]
        weights = cluster[:, :1]
        merged = cluster[0].copy()
        merged[1:] = (cluster[:, 1:] * weights).sum(0) / weights.sum()
        kept.append(merged)
        remaining = remaining[~overlap]
    return kept


def body_region(row: np.ndarray, side: float, pad: np.ndarray) -> BodyRegion:
    """A decoded detection -> the body region in frame pixels."""
    points = row[5:13].reshape(4, 2) * side - pad  # (4, 2) frame pixels
    return region_from_points(points[0], points[1], float(row[0]))


def region_from_points(hips: np.ndarray, circle: np.ndarray, score: float) -> BodyRegion:
    """The body region of two alignment points: the hips' midpoint and a point on the body's circle."""
    radius = float(np.hypot(*(circle - hips)))
    rotation = np.pi / 2 - np.arctan2(-(circle[1] - hips[1]), circle[0] - hips[0])
    rotation = (rotation + np.pi) % (2 * np.pi) - np.pi
    box = np.array([hips[0] - radius, hips[1] - radius, hips[0] + radius, hips[1] + radius], np.float32)
    return BodyRegion(score, box, np.asarray(hips, np.float64), 2 * radius * ROI_SCALE, float(rotation))


def _xyxy(cxcywh: np.ndarray) -> np.ndarray:
    half = cxcywh[:, 2:4] / 2
    return np.concatenate([cxcywh[:, :2] - half, cxcywh[:, :2] + half], axis=1)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    return inter / np.maximum(area + np.prod(box[2:] - box[:2]) - inter, 1e-9)
