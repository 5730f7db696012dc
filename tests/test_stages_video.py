"""pose_extraction.video: uniform sampling, decoding at indices (from frame 0 or after a seek), probing errors,
and the stored clip codecs round trip."""

import numpy as np
import pytest

from fixtures_data import good_records, write_diving48, write_truncated_videos, write_video
from pevl.shards.codec import CODECS, decode_clip, encode_clip
from pose_extraction.video import (
    VideoError,
    probe_video,
    read_frames,
    resize_short_side,
    sample_clip,
    stored_size,
    uniform_indices,
)


def _frame_index(frame: np.ndarray) -> int:
    """The fixture writes frame i as a grey 16 x 16 corner patch of level 10 + 6 i."""
    return int(round((float(frame[-16:, -16:].mean()) - 10) / 6))


def test_uniform_indices_cover_the_range_with_segment_centres():
    assert uniform_indices(0, 16, 4) == [2, 6, 10, 14]
    assert uniform_indices(10, 13, 4) == [10, 11, 11, 12]  # fewer frames than T: repeats, in range
    assert uniform_indices(5, 6, 3) == [5, 5, 5]
    with pytest.raises(ValueError):
        uniform_indices(4, 4, 2)


@pytest.mark.parametrize("seek_after", [0, 1000])
def test_read_frames_returns_rgb_frames_at_the_asked_indices(tmp_path, seek_after):
    path = write_video(tmp_path / "v.mp4", frames=40, size=(64, 48))
    indices = [3, 3, 17, 30, 39]
    frames = read_frames(path, indices, seek_after=seek_after)
    assert frames.shape == (5, 48, 64, 3) and frames.dtype == np.uint8
    assert [_frame_index(f) for f in frames] == indices
    # the moving block is white; the background is dark: RGB order kept
    assert frames[0].max() == 255


def test_probe_and_read_give_readable_reasons(tmp_path):
    info = probe_video(write_video(tmp_path / "ok.mp4", frames=10, fps=30.0))
    assert (info.frame_count, info.fps, info.width, info.height) == (10, 30.0, 64, 48)
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_bytes(b"not a video at all" * 50)
    for name, kind in [("missing.mp4", "missing file"), ("empty.mp4", "empty file"), ("text.mp4", "undecodable")]:
        with pytest.raises(VideoError, match=f"^{kind}: {name}"):
            probe_video(tmp_path / name)
    with pytest.raises(VideoError, match="^truncated: ok.mp4 ends after 10 frames, the clip needs frame 12"):
        read_frames(tmp_path / "ok.mp4", [1, 12])


def test_stored_size_keeps_aspect_with_even_sides():
    assert stored_size(640, 360, 128) == (228, 128)
    assert stored_size(360, 640, 96) == (96, 170)
    assert resize_short_side(np.zeros((48, 64, 3), np.uint8), 32).shape == (32, 42, 3)


@pytest.mark.parametrize("codec", CODECS)
def test_stored_clip_codecs_round_trip(tmp_path, codec):
    frames = read_frames(write_video(tmp_path / "v.mp4", frames=8), list(range(8)))
    encode_clip(frames, 25.0, codec, tmp_path / "c.mp4")
    back = decode_clip((tmp_path / "c.mp4").read_bytes())
    assert back.shape == frames.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - frames.astype(int)).mean() < 12  # lossy, but the same picture


def test_sample_clip_opens_once_resizes_and_rejects_short_ranges(tmp_path):
    path = write_video(tmp_path / "v.mp4", frames=30, size=(64, 48), fps=30.0)
    clip = sample_clip(path, 6, 26, 4, short_side=32)
    assert clip.indices == [8, 13, 18, 23] and clip.info.fps == 30.0
    assert clip.frames.shape == (4, 32, 42, 3)
    whole = sample_clip(path, 0, None, 3)
    assert whole.indices == [5, 15, 25]
    with pytest.raises(VideoError, match="^too short: the clip has 1 source frame"):
        sample_clip(path, 4, 5, 4)


def test_whole_video_that_ends_early_samples_what_is_there(tmp_path):
    root = write_diving48(tmp_path / "d", good_records(1), [])
    write_truncated_videos(root, root / "rgb" / "clip00.mp4")
    path = root / "rgb" / "trunc_fast.mp4"
    assert probe_video(path).frame_count == 24  # the index at the front still promises 24 frames
    clip = sample_clip(path, 0, None, 4)
    # only the first frames survived the cut: the samples spread over those (the last one may be damaged)
    assert max(clip.indices) < 6 and clip.frames.shape == (4, 48, 64, 3)
    assert _frame_index(clip.frames[0]) == clip.indices[0]
    with pytest.raises(VideoError, match="^truncated"):
        sample_clip(path, 0, 24, 4)  # an annotated range that the file does not hold is a reject


def test_decoding_clip_bytes_again_and_again_does_not_grow_memory(tmp_path):
    import gc
    import tracemalloc

    frames = read_frames(write_video(tmp_path / "v.mp4", frames=8), list(range(8)))
    encode_clip(frames, 25.0, "mp4v", tmp_path / "c.mp4")
    data = (tmp_path / "c.mp4").read_bytes()
    decode_clip(data)
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(300):
            decode_clip(data)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64_000  # OpenCV's BytesIO reader kept ~1 kB of Python objects per capture
