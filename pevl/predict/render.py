"""`pevl predict --render`: an annotated MP4 per video, showing what the model saw and what it said.

The frames are the stored frames (after the codec round trip, as the pose estimator and the model
see them), scaled up by a whole factor, each stored pixel a block, until the short side is at
least MIN_SHORT_SIDE px so that the text is legible. On them: the tracked person's box (green),
the joints found (score > 0, yellow) and the COCO-17 limbs between them (cyan); the top-1 class
and its probability, the window's time span (or the frame range), the source frame index.

A windowed video shows its windows in order, each with its own class, leaving out a window that
overlaps the last one shown (with the default stride, every other one), so it plays forward in
time. The frame rate is the stored frames per second of source time (16 frames over 3.3 s: 5 fps),
so it plays in real time. Written by the stored codec's writer (`encode_clip`) as H.264, which
browsers and players show; the annotated frames of one video are held until it is written
(at the demo's 96 px stored side, scaled x2: 2.4 MB per window of 16 frames).
"""

import math
from pathlib import Path

import cv2
import numpy as np

from pevl.eval.plots import COCO_SKELETON
from pevl.predict.pipeline import ClipFrames
from pevl.shards.codec import encode_clip
from schemas import PredictionRow

MIN_SHORT_SIDE = 192
CODEC = "h264"
BOX, LIMB, JOINT, TEXT, SHADOW = (0, 220, 0), (0, 230, 230), (255, 230, 0), (255, 255, 255), (0, 0, 0)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def scale_factor(height: int, width: int, min_short_side: int = MIN_SHORT_SIDE) -> int:
    """The whole factor that brings the short side to at least `min_short_side` (1 when it is already)."""
    return max(1, math.ceil(min_short_side / min(height, width)))


def upscale(frames: np.ndarray, factor: int) -> np.ndarray:
    """(T, H, W, 3) -> (T, factor H, factor W, 3), each pixel repeated (nearest neighbour)."""
    return frames.repeat(factor, axis=1).repeat(factor, axis=2)


def _point(xy: np.ndarray, factor: int) -> tuple[int, int]:
    """A stored-frame pixel position on the scaled frame (pixel centres kept)."""
    return int(round((xy[0] + 0.5) * factor - 0.5)), int(round((xy[1] + 0.5) * factor - 0.5))


def _draw_person(img: np.ndarray, keypoints: np.ndarray, box: np.ndarray | None, factor: int) -> None:
    """One frame's box, limbs and joints (keypoints (K, 3) and box (4,) in stored-frame pixels), in place."""
    found = keypoints[:, 2] > 0
    if not found.any():
        return
    if box is not None:
        cv2.rectangle(img, _point(box[:2], factor), _point(box[2:], factor), BOX, 1, cv2.LINE_AA)
    for a, b in COCO_SKELETON:
        if a < len(keypoints) and b < len(keypoints) and found[a] and found[b]:
            cv2.line(img, _point(keypoints[a], factor), _point(keypoints[b], factor), LIMB, max(1, factor // 2),
                     cv2.LINE_AA)
    for xy in keypoints[found]:
        cv2.circle(img, _point(xy, factor), factor // 2 + 1, JOINT, -1, cv2.LINE_AA)


def _text(img: np.ndarray, lines: list[str]) -> None:
    """Lines of white text with a dark outline at the top left, each shrunk to the frame's width, in place."""
    scale = 0.4 * min(img.shape[:2]) / MIN_SHORT_SIDE
    thick = max(1, round(2 * scale))
    step = int(round(30 * scale)) + 2
    for i, line in enumerate(lines):
        width = cv2.getTextSize(line, FONT, scale, thick + 2)[0][0]
        fit = min(scale, scale * (img.shape[1] - 10) / max(width, 1))
        cv2.putText(img, line, (4, step * (i + 1)), FONT, fit, SHADOW, thick + 2, cv2.LINE_AA)
        cv2.putText(img, line, (4, step * (i + 1)), FONT, fit, TEXT, thick, cv2.LINE_AA)


def captions(row: PredictionRow) -> list[str]:
    """The text lines of a predicted row: class and probability, then where in the video."""
    where = (f"window {row.window}: {row.start_s:.1f}-{row.end_s:.1f} s" if row.window is not None
             else f"frames {row.start_frame}-{row.end_frame}" if row.end_frame is not None else "whole video")
    return [f"{row.top_names[0]}  {row.top_probs[0]:.2f}", where]


def annotate(clip: ClipFrames, row: PredictionRow, min_short_side: int = MIN_SHORT_SIDE) -> np.ndarray:
    """The clip's stored frames, scaled up, with the person, the row's class and the frame index: (T, H', W', 3) RGB."""
    factor = scale_factor(*clip.frames.shape[1:3], min_short_side)
    out = upscale(clip.frames, factor)
    lines = captions(row)
    for t, img in enumerate(out):
        _draw_person(img, clip.keypoints[t], None if clip.bboxes is None else clip.bboxes[t], factor)
        _text(img, [*lines, f"frame {clip.frame_indices[t]}"])
    return out


def playback_fps(clip: ClipFrames) -> float:
    """Stored frames per second of source time: the rate at which the clip plays in real time."""
    steps = np.diff(clip.frame_indices)
    gap = float(steps.mean()) if len(steps) and steps.mean() > 0 else 1.0
    return (clip.fps or 25.0) / gap


class VideoRender:
    """One video's annotated frames, gathered row by row, written as one MP4 (module doc)."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.fps = 0.0
        self.end: int | None = None

    def add(self, row: PredictionRow, clip: ClipFrames | None) -> None:
        """Annotate a predicted row's clip, unless it is rejected or overlaps the last window shown."""
        if row.status != "ok" or clip is None:
            return
        if row.window is not None and self.end is not None and row.start_frame < self.end:
            return
        self.parts.append(annotate(clip, row))
        self.fps = self.fps or playback_fps(clip)
        self.end = row.end_frame

    def save(self, path: Path) -> Path | None:
        """Write the gathered frames as an H.264 MP4 at `path`; None when no row was predicted."""
        if not self.parts:
            return None
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        encode_clip(np.concatenate(self.parts), self.fps, CODEC, path)
        return path
