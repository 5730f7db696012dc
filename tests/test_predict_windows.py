"""`pevl predict` on long videos: windows of the training clip length (measured from the training data),
their bounds, one row each equal to predicting that frame range alone, a timeline picture, and
short videos still scored whole."""

import json
import statistics

import cv2
import pytest

from pevl import paths
from pevl.cli import main
from pevl.predict.inputs import VideoInput
from pevl.predict.windows import (
    LONG_FACTOR,
    WindowSettings,
    plan_windows,
    training_clip_s,
    window_bounds,
    window_settings,
)
from predict_fixtures import concatenated_video, run  # noqa: F401 - `run` is a fixture
from schemas import ConfigError


def test_window_bounds_cover_the_range_and_end_flush():
    assert window_bounds(0, 100, 40, 20) == [(0, 40), (20, 60), (40, 80), (60, 100)]
    assert window_bounds(10, 115, 40, 20) == [(10, 50), (30, 70), (50, 90), (70, 110), (75, 115)]  # the tail
    assert window_bounds(5, 30, 40, 20) == [(5, 30)]  # no longer than one window: one window
    assert window_bounds(0, 100, 30, 50) == [(0, 30), (50, 80), (70, 100)]  # a stride past the window leaves gaps


def test_window_settings_defaults_and_refusals():
    assert window_settings("auto", None, None, 3.2) == WindowSettings("auto", 3.2, 1.6, 3.2)
    assert window_settings("always", 2.0, None, None) == WindowSettings("always", 2.0, 1.0, None)
    assert window_settings("never", None, None, 3.2).mode == "never"
    assert not window_settings("auto", None, None, None).applies(1000.0)  # unknown training length: all whole
    with pytest.raises(ConfigError, match="give the window length"):
        window_settings("always", None, None, None)
    with pytest.raises(ConfigError, match="stride_s: expected a positive number"):
        window_settings("always", 2.0, 0.0, None)


def _annotated_median_s(run) -> float:
    """The median training clip length read another way: the SynthDive annotations and OpenCV's fps."""
    root = paths.dataset_root(run.cfg)
    seconds = []
    for record in json.loads((root / "Diving48_V2_train.json").read_text()):
        cap = cv2.VideoCapture(str(root / "rgb" / f"{record['vid_name']}.mp4"))
        seconds.append((record["end_frame"] - record["start_frame"]) / cap.get(cv2.CAP_PROP_FPS))
        cap.release()
    return statistics.median(seconds)


def test_a_long_video_is_windowed_and_each_window_equals_its_range_predicted_alone(run, tmp_path):
    from pevl.predict.predict import predict_videos

    clip_s = training_clip_s(run.cfg)
    assert clip_s == pytest.approx(_annotated_median_s(run), abs=0.01)  # 8 train clips: all measured
    long, frames = concatenated_video(run.inputs()[:6], tmp_path / "long.mp4")
    assert frames / 25.0 > LONG_FACTOR * clip_s  # long enough for `auto`
    out = tmp_path / "out"
    rows = predict_videos([long], run.checkpoint, out, show_progress=False)  # windows: auto
    window, stride = round(clip_s * 25), round(clip_s / 2 * 25)
    bounds = window_bounds(0, frames, window, stride)
    assert len(rows) == len(bounds) >= 6
    assert [(r.start_frame, r.end_frame) for r in rows] == bounds and bounds[-1][1] == frames
    assert [r.window for r in rows] == list(range(len(rows)))
    assert all(r.start_s == pytest.approx(r.start_frame / 25) and r.end_s == pytest.approx(r.end_frame / 25)
               for r in rows)
    assert all(r.status == "ok" for r in rows) and len({r.sha256 for r in rows}) == 1
    alone = predict_videos([VideoInput(long, s, e) for s, e in bounds], run.checkpoint, windows="never",
                           show_progress=False)
    for w, a in zip(rows, alone):
        assert a.window is None and w.frame_indices == a.frame_indices
        assert w.top_labels == a.top_labels and w.top_probs == a.top_probs  # the same frames, poses and scores
    picture = cv2.imread(str(out / "timelines" / "long.png"))
    assert picture is not None and picture.shape[0] >= 300 and picture.shape[1] >= 900


def test_short_videos_are_scored_whole_under_auto(run):
    settings = window_settings("auto", None, None, training_clip_s(run.cfg))
    assert all(plan_windows(v, settings, run.cfg.decode.min_frames) == ([], None) for v in run.inputs())


def test_windows_past_the_end_of_the_file_are_rejected_rows(run, tmp_path):
    from pevl.predict.predict import predict_videos

    long, frames = concatenated_video(run.inputs()[:2], tmp_path / "two.mp4")
    rows = predict_videos([VideoInput(long, 0, frames + 60)], run.checkpoint, windows="always", window_s=1.0,
                          stride_s=1.0, show_progress=False)
    assert [(r.start_frame, r.end_frame) for r in rows] == window_bounds(0, frames + 60, 25, 25)
    inside = [r for r in rows if r.end_frame <= frames]
    assert inside and all(r.status == "ok" for r in inside)  # the pass failed: each window read alone
    past = [r for r in rows if r.start_frame >= frames]
    assert past and all(r.status == "rejected" and r.reason.startswith("truncated: two.mp4 ends after") for r in past)


def test_cli_window_flags_table_and_timeline(run, tmp_path, capsys):
    long, frames = concatenated_video(run.inputs()[:2], tmp_path / "two.mp4")
    out = tmp_path / "out"
    assert main(["predict", str(long), "--model", str(run.checkpoint), "--window-s", "2", "--stride-s", "1.5",
                 "--out", str(out), "--top-k", "3"]) == 0
    text = capsys.readouterr().out.splitlines()
    count = len(window_bounds(0, frames, 50, 38))
    assert text[-3] == f"predict: {count} predicted, 0 rejected; {count} windows of 1 videos"
    assert sum(" @" in line for line in text) == count
    assert text[1].split()[0].endswith("two.mp4") and text[1].split()[1] == "@0.0-2.0s"
    assert text[-1].endswith(str(out / "timelines")) and (out / "timelines" / "two.png").is_file()
    assert main(["predict", str(long), "--model", str(run.checkpoint), "--windows", "never", "--window-s", "2"]) == 2
