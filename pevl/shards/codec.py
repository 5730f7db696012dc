"""The stored clip format: T frames in one small .mp4 (mp4v or MJPEG via OpenCV, H.264 via PyAV)."""

from pathlib import Path

import numpy as np

VIDEO_EXT = "mp4"
CODECS = ("mp4v", "h264", "mjpeg")


def _write_cv2(frames: np.ndarray, fps: float, fourcc: str, path: Path, rgb: bool) -> None:
    import cv2

    t, h, w = frames.shape[:3]
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot open a {fourcc} writer for {path}")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) if rgb else frame)
    finally:
        writer.release()


def _write_h264(frames: np.ndarray, fps: float, crf: int, path: Path, rgb: bool) -> None:
    import av

    t, h, w = frames.shape[:3]
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=max(1, int(round(fps))))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        stream.thread_count = 1
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24" if rgb else "bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def encode_clip(frames: np.ndarray, fps: float, codec: str, path: Path, crf: int = 23, rgb: bool = True) -> None:
    """Write frames as an .mp4 at `path` (the caller renames it into place).

    Args:
        frames: (T, H, W, 3) uint8 RGB (BGR with rgb=False), H and W even.
        fps: frame rate written into the container.
        codec: one of CODECS.
        path: output file; its suffix must be .mp4.
        crf: libx264 quality for codec h264.
        rgb: False when the frames are in OpenCV's BGR order.
    """
    fps = float(fps) if fps > 0 else 25.0
    if codec == "mp4v":
        _write_cv2(frames, fps, "mp4v", path, rgb)
    elif codec == "mjpeg":
        _write_cv2(frames, fps, "MJPG", path, rgb)
    elif codec == "h264":
        _write_h264(frames, fps, crf, path, rgb)
    else:
        raise ValueError(f"unknown codec {codec!r}; expected one of {CODECS}")


def decode_clip(data: bytes) -> np.ndarray:
    """Decode stored clip bytes. Returns (T, H, W, 3) uint8 RGB."""
    from pose_extraction.video import read_all_frames

    return read_all_frames(data)
