"""`pevl predict --render`: an MP4 per video that decodes to the stored frames (scaled up), one per
stored frame, changed where the tracked person's skeleton is drawn and nearly untouched elsewhere;
a windowed video shows its non-overlapping windows."""

import logging

import numpy as np
import pytest

from pevl.cli import main
from pevl.predict.render import MIN_SHORT_SIDE, scale_factor, upscale
from pose_extraction.video import read_all_frames
from predict_fixtures import concatenated_video, run  # noqa: F401 - `run` is a fixture


def _near(shape: tuple[int, int], points: np.ndarray, radius: int) -> np.ndarray:
    """(H, W) bool: pixels within `radius` of any point (x, y)."""
    ys, xs = np.mgrid[: shape[0], : shape[1]]
    near = np.zeros(shape, bool)
    for x, y in points:
        near |= (xs - x) ** 2 + (ys - y) ** 2 <= radius**2
    return near


def test_render_writes_the_stored_frames_with_the_skeleton_drawn(run, tmp_path):
    from pevl.predict.pipeline import ClipPipeline
    from pevl.predict.predict import predict_videos

    video = run.inputs()[0]
    out = tmp_path / "out"
    [row] = predict_videos([video], run.checkpoint, out, render=True, show_progress=False)
    rendered = read_all_frames(out / "render" / f"{video.path.stem}.mp4")
    clip = ClipPipeline(run.cfg).prepare(video)  # the stored frames and poses the model saw
    factor = scale_factor(*clip.frames.shape[1:3])
    raw = upscale(clip.frames, factor).astype(np.int16)
    assert factor == 2 and min(rendered.shape[1:3]) >= MIN_SHORT_SIDE
    assert rendered.shape == raw.shape and len(rendered) == run.cfg.decode.frames == len(row.frame_indices)
    text_rows = 60  # the three caption lines at the top
    on_joints, elsewhere = [], []
    for t in range(len(rendered)):
        found = clip.keypoints[t, :, 2] > 0
        joints = (clip.keypoints[t, found, :2] + 0.5) * factor - 0.5
        diff = np.abs(rendered[t].astype(np.int16) - raw[t]).max(axis=-1)  # (H, W)
        on = _near(diff.shape, joints, 2)
        far = ~_near(diff.shape, joints, 16)
        on[:text_rows] = far[:text_rows] = False
        box = clip.bboxes[t] * factor
        far[max(0, int(box[1]) - 8): int(box[3]) + 8, max(0, int(box[0]) - 8): int(box[2]) + 8] = False
        on_joints.append(diff[on])
        elsewhere.append(diff[far])
    assert sum(len(d) > 0 for d in on_joints) >= len(rendered) - 1  # a person drawn in (nearly) every frame
    drawn, other = np.concatenate(on_joints).mean(), np.concatenate(elsewhere).mean()
    assert drawn > 60 and other < 10, (drawn, other)  # saturated joints and limbs; elsewhere the codec's loss only


def test_a_windowed_video_renders_its_non_overlapping_windows(run, tmp_path):
    from pevl.predict.predict import predict_videos

    long, _ = concatenated_video(run.inputs()[:2], tmp_path / "two.mp4")
    out = tmp_path / "out"
    rows = predict_videos([long], run.checkpoint, out, windows="always", window_s=2.0, stride_s=1.0, render=True,
                          show_progress=False)
    shown, end = 0, -1
    for r in rows:
        if r.status == "ok" and r.start_frame >= end:
            shown, end = shown + 1, r.end_frame
    assert len(rows) > shown >= 2
    assert len(read_all_frames(out / "render" / "two.mp4")) == shown * run.cfg.decode.frames


def test_render_needs_an_output_folder(run, caplog):
    caplog.set_level(logging.INFO)
    assert main(["predict", str(run.inputs()[0].path), "--model", str(run.checkpoint), "--render"]) == 2
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "render: the annotated videos need an output folder (--out)"]


@pytest.mark.parametrize("size,factor", [((96, 128), 2), ((120, 160), 2), ((200, 300), 1), ((64, 64), 3)])
def test_scale_factor_reaches_a_legible_size(size, factor):
    assert scale_factor(*size) == factor
    assert upscale(np.zeros((1, *size, 3), np.uint8), factor).shape[1:3] == (size[0] * factor, size[1] * factor)
