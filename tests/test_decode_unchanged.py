"""The decode stage stores exactly what a plain reference of its chain stores, byte for byte.

The reference, written here without the project's video code: OpenCV reads the source frame by
frame, keeps the frames at the segment centres of the clip's range, shrinks each (k x k block
average when k divides both sides, else Gaussian pyramid halvings, then one bilinear step to the
even stored size) and writes them with cv2.VideoWriter at the clip's frame rate. A change to the stage's
sampling, decoding, resizing or encoding that alters one stored byte or one recorded frame index
fails here. mp4v and mjpeg only: libx264 (codec h264) writes different bytes from run to run.
"""

import json

import cv2
import numpy as np
import pytest

from pevl import paths
from pevl.datasets import make_key
from pevl.stages.decode import run_decode
from pevl.stages.ingest import run_ingest
from pevl.storage.tables import read_table
from pevl.synth import generate_synthdive
from schemas import ClipRecord, DecodedClip, PipelineConfig

SHORT_SIDES = (24, 16, 32)  # from 64 x 48: a 2 x 2 block average, a pyramid halving, bilinear only


@pytest.fixture(scope="module")
def synthdive(tmp_path_factory):
    """Four SynthDive clips of 64 x 48; one clip's range cut to 3 source frames, so 8 samples repeat frames."""
    root = tmp_path_factory.mktemp("synthdive")
    generate_synthdive(root, 2, 0, (64, 48), workers=1, classes=[5, 40])
    train = root / "Diving48_V2_train.json"
    records = json.loads(train.read_text())
    records[0].update(start_frame=10, end_frame=13)
    train.write_text(json.dumps(records))
    return root


def reference_indices(start: int, end: int, count: int) -> list[int]:
    """The centre frame of each of `count` equal segments of [start, end)."""
    span = end - start
    return [start + min(span - 1, int((i + 0.5) * span / count)) for i in range(count)]


def reference_resize(frame: np.ndarray, short_side: int) -> np.ndarray:
    h, w = frame.shape[:2]
    scale = short_side / min(w, h)
    size = (max(2, int(round(w * scale / 2.0)) * 2), max(2, int(round(h * scale / 2.0)) * 2))
    k = min(h, w) // short_side
    if k >= 2 and h % k == 0 and w % k == 0:
        frame = cv2.resize(frame, (w // k, h // k), interpolation=cv2.INTER_AREA)
    else:
        while min(frame.shape[:2]) >= 2 * short_side:
            frame = cv2.pyrDown(frame)
    return cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)


def reference_clip(source, clip: ClipRecord, frames: int, short_side: int, codec: str, out) -> list[int]:
    """Store one clip the plain way at `out`; returns the source frame indices it holds."""
    indices = reference_indices(clip.start_frame, clip.end_frame, frames)
    cap = cv2.VideoCapture(str(source))
    fps = clip.fps or cap.get(cv2.CAP_PROP_FPS)  # the index's rate, else the container's
    kept, i = {}, 0
    while i <= indices[-1]:
        ok, frame = cap.read()
        assert ok, f"{source} ends at frame {i}"
        if i in indices:
            kept[i] = reference_resize(frame, short_side)
        i += 1
    cap.release()
    h, w = kept[indices[0]].shape[:2]
    fourcc = cv2.VideoWriter_fourcc(*{"mp4v": "mp4v", "mjpeg": "MJPG"}[codec])
    writer = cv2.VideoWriter(str(out), cv2.CAP_FFMPEG, fourcc, fps, (w, h))
    for index in indices:
        writer.write(kept[index])
    writer.release()
    return indices


@pytest.mark.parametrize("codec", ["mp4v", "mjpeg"])
def test_stored_clips_are_byte_identical_to_the_plain_chain(tmp_path, synthdive, codec):
    frames = 8
    for short_side in SHORT_SIDES:
        cfg = PipelineConfig.model_validate({
            "work_dir": str(tmp_path / f"work-{short_side}"), "dataset": {"name": "diving48", "root": str(synthdive)},
            "decode": {"frames": frames, "short_side": short_side, "codec": codec, "workers": 1},
            "poses": {"backend": "ground_truth"},
        })
        run_ingest(cfg)
        assert run_decode(cfg).counts["decoded"] == 4
        clips = read_table(paths.index_dir(cfg) / "clips.parquet", ClipRecord)
        stored = paths.decode_dir(cfg) / "clips"
        for clip in clips:
            key = make_key(clip.clip_id)
            expected = tmp_path / f"{key}-{short_side}.mp4"
            indices = reference_clip(synthdive / clip.source, clip, frames, short_side, codec, expected)
            record = DecodedClip.model_validate_json((stored / f"{key}.json").read_text())
            assert record.frame_indices == indices
            assert (record.width, record.height) == {24: (32, 24), 16: (22, 16), 32: (42, 32)}[short_side]
            assert (stored / f"{key}.mp4").read_bytes() == expected.read_bytes(), (
                f"{key}: the stage's {codec} clip at short side {short_side} differs from the plain chain's")
        assert any(len(set(r.frame_indices)) < frames
                   for r in read_table(paths.decode_dir(cfg) / "decoded.parquet", DecodedClip))
