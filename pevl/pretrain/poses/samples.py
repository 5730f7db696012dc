"""Training samples made with rtmlib's own pre-processing, so training sees exactly what inference sees.

- Detector: the frame in BGR, letterboxed by rtmlib's `YOLOX.preprocess` (top-left, pad 114, no
  resize when the frame already has the input size); the diver's box scaled by the same ratio.
- Keypoints: rtmlib's top-down crop (`bbox_xyxy2cs` with padding 1.25, `top_down_affine`) around a
  jittered diver box, as a detector would give it; the joints mapped by the same affine matrix.
"""

from dataclasses import dataclass
from types import SimpleNamespace

import cv2
import numpy as np

from pevl.pretrain.poses.data import ClipSample

# RTMPose's normalisation, as rtmlib applies it to the BGR crop
POSE_MEAN = (123.675, 116.28, 103.53)
POSE_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class DetectorSet:
    """images (N, H, W, 3) uint8 BGR letterboxed; boxes (N, M, 4) persons in input pixels, zero rows = none."""

    images: np.ndarray
    boxes: np.ndarray


@dataclass(frozen=True)
class KeypointSet:
    """crops (N, h, w, 3) uint8 BGR; joints (N, K, 2) crop pixels; visible (N, K) 0/1 (visible and inside)."""

    crops: np.ndarray
    joints: np.ndarray
    visible: np.ndarray


def letterbox(frame_bgr: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """rtmlib's YOLOX letterbox of one (H, W, 3) BGR frame to input_size (height, width); returns (image, ratio)."""
    from rtmlib import YOLOX

    return YOLOX.preprocess(SimpleNamespace(model_input_size=tuple(input_size)), frame_bgr)


def pose_crop(frame_bgr: np.ndarray, box: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """rtmlib's RTMPose crop of `box` at input_size (width, height). Returns (crop uint8, (2, 3) frame->crop affine)."""
    from rtmlib.tools.pose_estimation.pre_processings import bbox_xyxy2cs, get_warp_matrix, top_down_affine

    center, scale = bbox_xyxy2cs(np.asarray(box, np.float64), padding=1.25)
    crop, scale = top_down_affine(tuple(input_size), scale, center, frame_bgr)
    return crop, get_warp_matrix(center, scale, 0, output_size=tuple(input_size))


def normalise(crops: np.ndarray) -> np.ndarray:
    """(..., 3) BGR crops -> float32 as rtmlib's RTMPose.preprocess normalises them."""
    return ((crops - np.array(POSE_MEAN)) / np.array(POSE_STD)).astype(np.float32)


def detector_set(clips: list[ClipSample], input_size: tuple[int, int], others: list[np.ndarray] | None = None) -> DetectorSet:
    """Every frame of `clips`, letterboxed, with its persons' boxes in input pixels.

    others: per clip, (T, 4) boxes of a second person pasted into it (zeros where none), or None.
    """
    images, boxes = [], []
    for c, clip in enumerate(clips):
        extra = others[c] if others is not None else np.zeros_like(clip.boxes)
        for frame, box, other in zip(clip.frames, clip.boxes, extra):
            image, ratio = letterbox(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), input_size)
            images.append(image)
            boxes.append(np.stack([box, other]) * ratio)  # (M=2, 4)
    return DetectorSet(np.stack(images), np.stack(boxes).astype(np.float32))


def jitter_box(box: np.ndarray, rng: np.random.Generator, shift: float = 0.1, zoom: float = 0.15) -> np.ndarray:
    """A detector-like error on an (4,) xyxy box: centre moved by up to `shift` of its size, sides scaled."""
    centre, size = (box[:2] + box[2:]) / 2, box[2:] - box[:2]
    centre = centre + rng.uniform(-shift, shift, 2) * size
    size = size * np.exp(rng.uniform(-zoom, zoom, 2))
    return np.concatenate([centre - size / 2, centre + size / 2])


def keypoint_set(clips: list[ClipSample], input_size: tuple[int, int], crops_per_frame: int, seed: int) -> KeypointSet:
    """`crops_per_frame` jittered crops of every frame with a diver, and the joints in crop pixels."""
    rng = np.random.default_rng(seed)
    w, h = input_size
    crops, joints, visible = [], [], []
    for clip in clips:
        for frame, box, truth in zip(clip.frames, clip.boxes, clip.joints):
            if not box.any():
                continue
            bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
            for _ in range(crops_per_frame):
                crop, affine = pose_crop(bgr, jitter_box(box, rng), input_size)
                xy = truth[:, :2] @ affine[:, :2].T + affine[:, 2]  # (K, 2)
                inside = (xy[:, 0] >= 0) & (xy[:, 0] <= w - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= h - 1)
                crops.append(crop)
                joints.append(xy)
                visible.append((truth[:, 2] > 0) & inside)
    return KeypointSet(np.stack(crops), np.stack(joints).astype(np.float32), np.stack(visible).astype(np.float32))
