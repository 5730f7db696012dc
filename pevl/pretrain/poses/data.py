"""SynthDive frames at the sizes the decode stage stores, with the diver's ground-truth joints and box.

Each clip goes through the demo's own chain: rendered, encoded as H.264 (as SynthDive writes it),
16 frames sampled uniformly and resized to the stored short side (as the decode stage does), then
re-encoded as the stored mp4v clip and decoded again. Bystanders, stands, flags and splashes stay
in the frames; only the diver is labelled, so the detector learns that the diver is the person.
"""

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pevl.synth.render import build_scene, iter_frames, keypoints
from pevl.synth.vocab import dive_classes
from pevl.synth.writer import write_video
from pose_extraction.ground_truth import scale_keypoints

# (render width, render height, stored short side): demo 4:3 and 16:9, real-preset 4:3 and 16:9
STORED_SIZES: tuple[tuple[int, int, int], ...] = ((160, 120, 96), (212, 120, 96), (320, 240, 256), (456, 256, 256))
FRAMES_PER_CLIP = 16
# the box margin around the joints, metres: the head radius and half a thigh reach past the joints
BOX_MARGIN_M = 0.15
# a frame with fewer visible joints has no diver to find (under water, or out of the frame)
MIN_VISIBLE = 3


@dataclass(frozen=True)
class ClipSample:
    """One clip's stored frames and ground truth.

    Attributes:
        frames: (T, H, W, 3) uint8 RGB, as the poses stage receives them.
        joints: (T, 17, 3) float32 x, y in stored pixels, visibility 0/1.
        boxes: (T, 4) float32 x1, y1, x2, y2 of the diver's visible part; zeros where absent.
        seed: the clip's render seed words.
    """

    frames: np.ndarray
    joints: np.ndarray
    boxes: np.ndarray
    seed: tuple[int, ...]


def render_clip(seed: int, index: int, size: tuple[int, int, int], frames: int = FRAMES_PER_CLIP) -> ClipSample:
    """Render clip `index` of render seed `seed` at (width, height, short side) through the demo's chain."""
    from pose_extraction.video import resize_short_side, uniform_indices

    rng = np.random.default_rng([seed, 9, index])
    dive = dive_classes()[int(rng.integers(48))]
    fps = int(rng.choice([25, 30, 60], p=[0.3, 0.5, 0.2]))
    words = (seed, 1, index)
    scene = build_scene(dive, words, size[:2], fps, (seed, 2, index // 3))
    picked = uniform_indices(0, scene.num_frames, frames)
    stored = np.stack([resize_short_side(f, size[2]) for f in _through_h264(scene, fps, size[:2], picked)])
    stored = _through_mp4v(stored, fps)  # (T, H, W, 3) RGB
    height, width = stored.shape[1:3]
    joints = scale_keypoints(keypoints(scene)[picked], size[:2], (width, height))
    px_per_m = scene.camera.scale[picked] * (width / size[0])  # (T,)
    return ClipSample(stored, joints, diver_boxes(joints, px_per_m, (width, height)), words)


def _through_h264(scene, fps: int, size: tuple[int, int], picked: list[int]) -> np.ndarray:
    """Encode the clip as SynthDive does and decode the picked frames back. Returns (T, H, W, 3) BGR."""
    from pose_extraction.video import read_frames

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        write_video(path, iter_frames(scene), fps, size)
        return read_frames(path, picked, rgb=False)


def _through_mp4v(frames: np.ndarray, fps: int) -> np.ndarray:
    """Store (T, H, W, 3) BGR frames as the decode stage does (mp4v) and read them back as RGB."""
    from pevl.shards.codec import encode_clip
    from pose_extraction.video import read_all_frames

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stored.mp4"
        encode_clip(frames, fps, "mp4v", path, rgb=False)
        return read_all_frames(path)


def diver_boxes(joints: np.ndarray, px_per_m: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """(T, 17, 3) joints, (T,) pixels per metre -> (T, 4) boxes around the visible joints plus the body's width."""
    width, height = frame_size
    boxes = np.zeros((len(joints), 4), np.float32)
    for t, frame in enumerate(joints):
        seen = frame[frame[:, 2] > 0, :2]
        if len(seen) < MIN_VISIBLE:
            continue
        margin = max(2.0, BOX_MARGIN_M * float(px_per_m[t]))
        box = np.concatenate([seen.min(0) - margin, seen.max(0) + margin])
        boxes[t] = np.clip(box, 0, [width, height, width, height])
    return boxes


def render_clips(seed: int, count: int, sizes=STORED_SIZES, desc: str = "render") -> list[ClipSample]:
    """`count` clips of render seed `seed`, cycling through `sizes`, with a progress bar."""
    from pevl.progress import progress

    return [render_clip(seed, i, sizes[i % len(sizes)]) for i in progress(range(count), desc=desc, unit="clip")]
