"""Video probing, uniform frame sampling over a range, and OpenCV decoding at given frame indices.

Every failure is a `VideoError` whose message is a readable reject reason of the form
"<kind>: <details>" (e.g. "empty file: rgb/x.mp4 has 0 bytes"), so callers can count rejects by kind.
"""

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


class VideoError(Exception):
    """A video cannot be read as asked; str(e) is a "<kind>: <details>" reason.

    Attributes:
        readable: frames that could be read before the failure (-1 when unknown).
    """

    def __init__(self, reason: str, readable: int = -1):
        super().__init__(reason)
        self.readable = readable


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video (frame_count may be an estimate)."""

    frame_count: int
    fps: float
    width: int
    height: int


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoError(f"missing file: {path.name} does not exist")
    if not path.is_file():
        raise VideoError(f"not a file: {path.name} is not a regular file")
    if path.stat().st_size == 0:
        raise VideoError(f"empty file: {path.name} has 0 bytes")


def _memfd(data: bytes) -> int:
    fd = os.memfd_create("pevl-clip", os.MFD_CLOEXEC)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return fd


@contextmanager
def open_capture(source: Path | bytes) -> Iterator[cv2.VideoCapture]:
    """A single-threaded FFmpeg capture on a file or on bytes in memory, released on exit.

    Bytes go through an in-memory file (memfd, Linux) that the capture opens by path: OpenCV's
    BytesIO reader leaks ~1.7 kB per capture (measured), which a training loader decoding every
    sample every epoch would accumulate. Elsewhere a BytesIO is used, kept referenced while the
    capture lives (one freed under the capture crashes the process).
    """
    params = [cv2.CAP_PROP_N_THREADS, 1]
    fd, buf = None, None
    if isinstance(source, (bytes, bytearray, memoryview)):
        if hasattr(os, "memfd_create"):
            fd = _memfd(bytes(source))
            cap = cv2.VideoCapture(f"/proc/self/fd/{fd}", cv2.CAP_FFMPEG, params)
        else:
            buf = io.BytesIO(bytes(source))
            cap = cv2.VideoCapture(buf, cv2.CAP_FFMPEG, params)
    else:
        cap = cv2.VideoCapture(str(source), cv2.CAP_FFMPEG, params)
    try:
        yield cap
    finally:
        cap.release()
        del buf
        if fd is not None:
            os.close(fd)


def _info(cap: cv2.VideoCapture) -> VideoInfo:
    return VideoInfo(
        frame_count=int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0),
        fps=float(cap.get(cv2.CAP_PROP_FPS) or 0.0),
        width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
        height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
    )


def _checked_info(cap: cv2.VideoCapture, name: str) -> VideoInfo:
    if not cap.isOpened():
        raise VideoError(f"undecodable: {name} is not a video or is truncated", readable=0)
    info = _info(cap)
    if info.width <= 0 or info.height <= 0:
        raise VideoError(f"undecodable: {name} has no video stream", readable=0)
    if not (info.fps > 0 and np.isfinite(info.fps)):
        raise VideoError(f"no frame rate: {name} reports fps {info.fps}", readable=0)
    return info


def probe_video(path: Path) -> VideoInfo:
    """Frame count, fps and size of a video file; raises VideoError with a readable reason."""
    path = Path(path)
    _check_file(path)
    with open_capture(path) as cap:
        return _checked_info(cap, path.name)


def uniform_indices(start: int, end: int, count: int) -> list[int]:
    """`count` source frame indices spread uniformly over [start, end): the centre of each segment."""
    if end <= start:
        raise ValueError(f"empty range [{start}, {end})")
    span = end - start
    return [start + min(span - 1, int((i + 0.5) * span / count)) for i in range(count)]


def stored_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the short side scaled to `short_side`, both even (codecs need it)."""
    scale = short_side / min(width, height)
    even = lambda v: max(2, int(round(v * scale / 2.0)) * 2)  # noqa: E731
    return even(width), even(height)


def resize_short_side(frame: np.ndarray, short_side: int, out: np.ndarray | None = None) -> np.ndarray:
    """Resize one (H, W, 3) frame so its short side is `short_side`.

    Shrinking by 2x or more first averages k x k pixel blocks when k divides both sides (OpenCV's
    fast integer INTER_AREA), else halves with Gaussian pyramid steps: both anti-aliased and 3-10x
    faster than INTER_AREA at a non-integer factor. A bilinear step then reaches the exact size.

    Args:
        out: an array of the resized frame's shape to write it into (a row of a clip's stack,
            which saves stacking a copy); ValueError when its shape is another.
    """
    h, w = frame.shape[:2]
    size = stored_size(w, h, short_side)
    if out is not None and out.shape != (size[1], size[0], *frame.shape[2:]):
        raise ValueError(f"resize_short_side: out has shape {out.shape}, the resized frame {(size[1], size[0])}")
    if size == (w, h):
        if out is None:
            return frame
        out[...] = frame
        return out
    k = min(h, w) // short_side
    if k >= 2 and h % k == 0 and w % k == 0:
        frame = cv2.resize(frame, (w // k, h // k), interpolation=cv2.INTER_AREA)
    else:
        while min(h, w) >= 2 * short_side:
            frame = cv2.pyrDown(frame)
            h, w = frame.shape[:2]
    return cv2.resize(frame, size, dst=out, interpolation=cv2.INTER_LINEAR)


def _seek(cap: cv2.VideoCapture, first: int, seek_after: int) -> int:
    """Position the capture at or before `first`; returns the index of the next frame to grab."""
    if first <= seek_after:
        return 0
    cap.set(cv2.CAP_PROP_POS_FRAMES, first)
    pos = int(cap.get(cv2.CAP_PROP_POS_FRAMES))
    if pos == first:
        return first
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)  # the container cannot seek exactly: decode from the start
    return 0


def swap_rb(frames: np.ndarray) -> np.ndarray:
    """BGR <-> RGB of a (T, H, W, 3) uint8 stack in one OpenCV call (a [..., ::-1] copy is ~10x slower)."""
    t, h, w, c = frames.shape
    return cv2.cvtColor(frames.reshape(t * h, w, c), cv2.COLOR_BGR2RGB).reshape(t, h, w, c)


def _kept_shape(frame: np.ndarray, short_side: int | None) -> tuple[int, int]:
    """(height, width) of a retrieved frame as it is kept: resized to `short_side`, or as it is."""
    h, w = frame.shape[:2]
    if short_side is None:
        return h, w
    w, h = stored_size(w, h, short_side)
    return h, w


def _store_row(stack: np.ndarray, i: int, frame: np.ndarray, short_side: int | None, name: str, want: int) -> None:
    """Write a retrieved frame (resized when asked) into row i of a clip's (T, H, W, 3) stack."""
    if frame.shape[2:] != (3,) or stack.shape[1:3] != _kept_shape(frame, short_side):
        raise VideoError(f"undecodable: {name} changes frame size at frame {want}", readable=want)
    if short_side is None:
        stack[i] = frame
    else:
        resize_short_side(frame, short_side, out=stack[i])


def _decode_at(cap: cv2.VideoCapture, name: str, indices: list[int], seek_after: int,
               short_side: int | None) -> np.ndarray:
    """Frames at sorted `indices` from an open capture, (T, H, W, 3) BGR.

    Each kept frame is resized straight into its row of the result (no list of frames stacked
    afterwards); a repeated index copies the row before it.
    """
    if not indices or any(b < a for a, b in zip(indices, indices[1:])) or indices[0] < 0:
        raise ValueError(f"indices must be non-empty, non-negative and sorted, got {indices[:8]}...")
    pos = _seek(cap, indices[0], seek_after)
    stack: np.ndarray | None = None
    last = -1  # the row holding frame pos - 1, or -1 when that frame is not retrieved yet
    for i, want in enumerate(indices):
        while pos <= want:
            if not cap.grab():
                raise VideoError(f"truncated: {name} ends after {pos} frames, the clip needs frame {want}",
                                 readable=pos)
            pos += 1
            last = -1
        if last >= 0:
            stack[i] = stack[last]
            continue
        ok, frame = cap.retrieve()
        if not ok or frame is None:
            raise VideoError(f"undecodable: {name} frame {want} cannot be decoded", readable=want)
        if stack is None:
            stack = np.empty((len(indices), *_kept_shape(frame, short_side), 3), np.uint8)  # (T, H, W, 3)
        _store_row(stack, i, frame, short_side, name, want)
        last = i
    return stack


def read_frames(source: Path | bytes, indices: list[int], seek_after: int = 300,
                short_side: int | None = None, rgb: bool = True) -> np.ndarray:
    """Decode the frames at `indices` (sorted, repeats allowed) from a video file or bytes.

    Args:
        source: a video file, or its bytes.
        indices: source frame indices, non-decreasing.
        seek_after: seek instead of decoding from frame 0 when the first index exceeds this.
        short_side: resize each kept frame so its short side is this (None: keep the size).
        rgb: RGB order (default); False keeps OpenCV's BGR (saves a conversion before cv2 writes).
    Returns:
        (T, H, W, 3) uint8, T = len(indices).
    """
    in_memory = isinstance(source, (bytes, bytearray, memoryview))
    name = "video bytes" if in_memory else Path(source).name
    if not in_memory:
        _check_file(Path(source))
    with open_capture(source) as cap:
        if not cap.isOpened():
            raise VideoError(f"undecodable: {name} is not a video or is truncated", readable=0)
        frames = _decode_at(cap, name, indices, seek_after, short_side)
    return swap_rb(frames) if rgb else frames


@dataclass(frozen=True)
class SampledClip:
    """What `sample_clip` returns.

    Attributes:
        frames: (T, H, W, 3) uint8, RGB (or BGR when asked).
        indices: source frame index of each frame.
        info: the source video's VideoInfo.
    """

    frames: np.ndarray
    indices: list[int]
    info: VideoInfo


def sample_clip(path: Path, start: int, end: int | None, count: int, *, min_frames: int = 2,
                seek_after: int = 300, short_side: int | None = None, rgb: bool = True) -> SampledClip:
    """Open a video once and decode `count` frames spread uniformly over [start, end).

    end None means the whole video. When the container over-reports a whole video's length, the
    frames that are there are sampled instead. Raises VideoError ("too short: ..." when the range
    has fewer than `min_frames` frames).
    """
    path = Path(path)
    _check_file(path)
    with open_capture(path) as cap:
        info = _checked_info(cap, path.name)
        stop = info.frame_count if end is None else end
        if stop - start < min_frames:
            raise VideoError(f"too short: the clip has {max(0, stop - start)} source frame(s), "
                             f"at least {min_frames} needed")
        indices = uniform_indices(start, stop, count)
        try:
            frames = _decode_at(cap, path.name, indices, seek_after, short_side)
        except VideoError as e:
            if end is not None or e.readable - start < min_frames:
                raise
            indices = uniform_indices(start, e.readable, count)
            frames = None
    if frames is None:  # sample the frames the file really holds
        frames = read_frames(path, indices, seek_after, short_side, rgb=False)
    return SampledClip(swap_rb(frames) if rgb else frames, indices, info)


def read_all_frames(source: Path | bytes) -> np.ndarray:
    """Decode every frame of a short video (a stored clip). Returns (T, H, W, 3) uint8 RGB."""
    frames: list[np.ndarray] = []
    with open_capture(source) as cap:
        if not cap.isOpened():
            raise VideoError("undecodable: stored clip is not a video")
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
    if not frames:
        raise VideoError("undecodable: stored clip has no frames")
    return swap_rb(np.stack(frames))
