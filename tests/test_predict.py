"""`pevl predict` on a tiny SynthDive run: the raw test videos get the classes `pevl evaluate` gives
their clips (the stages' frames and poses bit for bit), bad videos become rejected rows, the system's
faults stop with one line and exit 2, and the table and predictions.parquet hold what they say.

The run goes through every real stage (SynthDive at 160x120, the embedded rtmlib pose models and the
main-person tracker, mp4v stored clips, person crops, 2 x 1 evaluation views) in about 15 s.
"""

import csv
import logging
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from pevl import paths
from pevl.cli import main
from pevl.datasets import make_key
from pevl.predict.inputs import InputError, VideoInput, collect_videos
from pevl.storage.integrity import file_sha256
from pevl.storage.tables import read_table
from schemas import ClipRecord, PipelineConfig, PredictionRow
from train_fixtures import tiny_config

SYNTH = ["dataset.synth.clips_per_class=4", "dataset.synth.classes=[0,1,2,3]", "dataset.synth.width=160",
         "dataset.synth.height=120", "dataset.synth.workers=1", "dataset.synth.test_fraction=0.5",
         "decode.frames=8", "decode.short_side=96", "decode.workers=1", "poses.backend=rtmlib", "poses.workers=1",
         "train.epochs=1", "train.eval_clips=2", "train.eval_crops=1", "tracking.enabled=false"]
DIVING48_ATTRIBUTES = {"takeoff", "somersaults", "twists", "position"}


class Run:
    """A trained and evaluated tiny run: config, checkpoint, the test clips and evaluate's predictions."""

    def __init__(self, cfg: PipelineConfig):
        self.cfg = cfg
        self.checkpoint = paths.train_dir(cfg) / f"{cfg.train.test_checkpoint}.pt"
        self.root = paths.dataset_root(cfg)
        self.test = [c for c in read_table(paths.index_dir(cfg) / "clips.parquet", ClipRecord) if c.split == "test"]
        report = next(paths.train_dir(cfg).glob("eval/test-2x1-*/predictions.csv"))
        self.pred = {row["key"]: int(row["pred"]) for row in csv.DictReader(report.open())}

    def inputs(self) -> list[VideoInput]:
        """The raw test videos with their annotated frame ranges, as the clip index names them."""
        return [VideoInput(self.root / c.source, c.start_frame or 0, c.end_frame) for c in self.test]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    from pevl.pipeline import run_stages

    cfg = tiny_config(tmp_path_factory.mktemp("predict"), SYNTH)
    run_stages(cfg, ["ingest", "decode", "poses", "shard", "train", "evaluate"])
    return Run(cfg)


def _error_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


def test_predictions_on_the_raw_test_videos_equal_evaluate(run):
    import torch

    from pevl.data.loader import make_eval_loader
    from pevl.predict.model import load_model
    from pevl.predict.predict import predict_videos
    from pevl.train.distributed import DistState
    from pevl.train.loop import evaluate

    rows = predict_videos(run.inputs(), run.checkpoint, show_progress=False)
    assert len(rows) == len(run.test) == len(run.pred) == 8
    assert any(c.start_frame for c in run.test)  # clips annotated inside their video are compared too
    assert [r.status for r in rows] == ["ok"] * 8
    equal = [r.top_labels[0] == run.pred[make_key(c.clip_id)] for r, c in zip(rows, run.test)]
    assert sum(equal) == 8, f"{sum(equal)} of 8 clips predicted as `pevl evaluate` did"
    loaded = load_model(run.checkpoint, "cpu")  # evaluate's class scores of the same clips, from the shards
    loader = make_eval_loader(run.cfg, paths.shards_dir(run.cfg), "test", clips=2, crops=1)
    scores = evaluate(loaded.model, loader, DistState(0, 1, 0, torch.device("cpu")))
    by_key = dict(zip(scores.keys, torch.softmax(torch.from_numpy(scores.scores), dim=1).numpy()))
    for row, clip in zip(rows, run.test):
        assert np.allclose(row.top_probs, by_key[make_key(clip.clip_id)][row.top_labels], atol=1e-5)
        assert row.views == "2x1" and len(row.frame_indices) == run.cfg.decode.frames


def test_inference_sees_the_stored_frames_and_poses_bit_for_bit(run):
    from pevl.predict.pipeline import ClipPipeline
    from pevl.shards import iter_samples, shard_urls
    from pevl.shards.preprocess import sample_source
    from pose_extraction.video import swap_rb

    pipeline = ClipPipeline(run.cfg)
    videos = {c.clip_id: v for c, v in zip(run.test, run.inputs())}
    compared = 0
    for frames, pose, meta in iter_samples(shard_urls(paths.shards_dir(run.cfg), "test")):
        clip = pipeline.prepare(videos[meta.clip_id])
        assert clip.frame_indices == meta.frame_indices
        assert np.array_equal(clip.frames, frames) and np.array_equal(clip.keypoints, pose)
        # the stored codec is lossy: the sampled frames before its round trip are not what training saw
        sampled = sample_source(videos[meta.clip_id].path, videos[meta.clip_id].start_frame,
                                videos[meta.clip_id].end_frame, run.cfg.decode)
        assert not np.array_equal(swap_rb(sampled.frames), frames)
        compared += 1
    assert compared == 8


def test_ground_truth_poses_equal_the_pose_stage(run):
    """The ground-truth backend (SynthDive's joints with detector-like noise seeded by the clip id) too."""
    from pevl.pipeline import run_stages
    from pevl.predict.pipeline import ClipPipeline

    cfg = run.cfg.model_copy(update={"poses": run.cfg.poses.model_copy(update={"backend": "ground_truth"})})
    assert cfg.poses.ground_truth.jitter_px > 0 and cfg.poses.ground_truth.swap_prob > 0
    run_stages(cfg, ["poses"])  # the stored clips of the run, posed again by the ground-truth backend
    pipeline = ClipPipeline(cfg)
    assert pipeline.pose_model.startswith("ground_truth:keypoints+noise")
    for clip, video in zip(run.test, run.inputs()):
        stored = np.load(paths.poses_dir(cfg) / "clips" / f"{make_key(clip.clip_id)}.pose.npy")
        assert np.array_equal(pipeline.prepare(video).keypoints, stored)


def test_cli_table_and_predictions_parquet(run, tmp_path, capsys):
    listing = tmp_path / "videos.txt"
    lines = ["# the test split, with the annotated ranges"]
    lines += [f"{v.path}\t{v.start_frame}\t{v.end_frame}" if v.end_frame is not None else str(v.path)
              for v in run.inputs()]
    listing.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert main(["predict", str(listing), "--model", str(run.checkpoint), "--out", str(out)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].split() == ["video", "top-1", "prob", "top-5"]
    assert text[-2] == "predict: 8 predicted, 0 rejected" and text[-1].endswith(str(out / "predictions.parquet"))
    table = pq.read_table(out / "predictions.parquet")
    assert table.column_names == list(PredictionRow.model_fields) and table.num_rows == 8
    rows = [PredictionRow.model_validate(r) for r in table.to_pylist()]
    digest = file_sha256(run.checkpoint)
    for row, clip, line in zip(rows, run.test, text[1:9]):
        assert row.top_labels[0] == run.pred[make_key(clip.clip_id)]  # the CLI agrees with `pevl evaluate` too
        assert row.path == str(run.root / clip.source) and row.sha256 == file_sha256(run.root / clip.source)
        assert (row.start_frame, row.end_frame) == (clip.start_frame or 0, clip.end_frame)
        assert len(row.top_labels) == len(row.top_names) == len(row.top_probs) == 5
        assert row.top_probs == sorted(row.top_probs, reverse=True) and 0 < sum(row.top_probs) <= 1 + 1e-6
        assert {a.name for a in row.attributes} == DIVING48_ATTRIBUTES
        assert all(a.prob >= row.top_probs[0] - 1e-9 for a in row.attributes)  # a share holds the top-1 class
        assert 0 < row.person_frames <= 1 and 0 < row.keypoint_score <= 1
        assert row.pose_model == "rtmlib:synthdive_det+synthdive_pose"
        assert row.model == str(run.checkpoint) and row.model_sha256 == digest
        assert row.decode_s > 0 and row.poses_s > 0 and row.model_s > 0
        top1, prob = line.split()[-7:-5]
        assert top1 == row.top_names[0] and float(prob) == pytest.approx(row.top_probs[0], abs=0.005)
        assert line.endswith(", ".join(row.top_names))
    saved = PipelineConfig.model_validate(yaml.safe_load((out / "config.yaml").read_text()))
    assert saved == run.cfg


def _empty_scene(path: Path, frames: int = 30) -> Path:
    """A SynthDive-sized video of one colour: a pool with no diver."""
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (160, 120))
    for _ in range(frames):
        writer.write(np.full((120, 160, 3), (180, 120, 40), np.uint8))
    writer.release()
    return path


def test_bad_videos_become_rejected_rows_and_the_rest_is_predicted(run, tmp_path, capsys):
    folder = tmp_path / "videos"
    folder.mkdir()
    good = run.inputs()[0].path
    (folder / "a_good.mp4").write_bytes(good.read_bytes())
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mp4").write_text("these are my notes, not a video\n" * 20)
    (folder / "truncated.mp4").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    _empty_scene(folder / "pool.mp4")
    (folder / "readme.md").write_text("not searched: not a video suffix")
    missing = tmp_path / "gone.mp4"
    out = tmp_path / "out"
    assert main(["predict", str(folder), str(missing), "--model", str(run.checkpoint), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    summary = "predict: 1 predicted, 5 rejected (undecodable: 2, empty file: 1, no person found: 1, missing file: 1)"
    assert summary in text
    rows = read_table(out / "predictions.parquet", PredictionRow)
    by_name = {Path(r.path).name: r for r in rows}
    assert list(by_name) == ["a_good.mp4", "empty.mp4", "notes.mp4", "pool.mp4", "truncated.mp4", "gone.mp4"]
    assert by_name["a_good.mp4"].status == "ok" and by_name["a_good.mp4"].reason == ""
    expected = {"empty.mp4": "empty file: empty.mp4 has 0 bytes",
                "notes.mp4": "undecodable: notes.mp4 is not a video or is truncated",
                "truncated.mp4": "undecodable: truncated.mp4 is not a video or is truncated",
                "gone.mp4": "missing file: gone.mp4 does not exist",
                "pool.mp4": "no person found: the pose estimator found no one in any of the 8 frames"}
    for name, reason in expected.items():
        row = by_name[name]
        assert (row.status, row.reason) == ("rejected", reason)
        assert row.top_labels == [] and row.person_frames == 0.0 and row.model_sha256 == file_sha256(run.checkpoint)
    assert by_name["gone.mp4"].sha256 == "" and by_name["empty.mp4"].sha256 == file_sha256(folder / "empty.mp4")
    assert "rejected: no person found" in text and "rejected: empty file" in text


def test_nothing_predicted_is_exit_1(run, tmp_path, capsys):
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert main(["predict", str(tmp_path / "empty.mp4"), "--model", str(run.checkpoint)]) == 1
    assert "predict: 0 predicted, 1 rejected (empty file: 1)" in capsys.readouterr().out


@pytest.mark.parametrize("fault", ["missing_checkpoint", "text_checkpoint", "foreign_checkpoint", "out_under_a_file",
                                   "empty_folder", "bad_views"])
def test_faults_of_the_system_stop_with_one_line_and_exit_2(run, tmp_path, caplog, capsys, fault):
    import torch

    video = str(run.inputs()[0].path)
    model, out, inputs, extra = run.checkpoint, tmp_path / "out", [video], []
    named = {"missing_checkpoint": tmp_path / "nope.pt", "text_checkpoint": tmp_path / "model.pt",
             "foreign_checkpoint": tmp_path / "foreign.pt", "out_under_a_file": tmp_path / "afile" / "out",
             "empty_folder": tmp_path / "novideos", "bad_views": "3 spatial crops"}[fault]
    if fault in ("missing_checkpoint", "text_checkpoint", "foreign_checkpoint"):
        model = named
    if fault == "text_checkpoint":
        named.write_text("not a checkpoint")
    if fault == "foreign_checkpoint":
        torch.save({"weights": torch.zeros(3)}, named)
    if fault == "out_under_a_file":
        (tmp_path / "afile").write_text("x")
        out = named
    if fault == "empty_folder":
        named.mkdir()
        inputs = [str(named)]
    if fault == "bad_views":
        extra = ["--views", "1x3"]  # the model follows the person: one crop only
    caplog.set_level(logging.INFO)
    assert main(["predict", *inputs, "--model", str(model), "--out", str(out), *extra]) == 2
    errors = _error_lines(caplog)
    assert len(errors) == 1 and str(named) in errors[0], errors
    assert not (out / "predictions.parquet").exists() and capsys.readouterr().out == ""
    assert not any("Traceback" in r.getMessage() for r in caplog.records)


def test_class_texts_come_from_the_checkpoint_or_from_beside_it(run, tmp_path):
    import torch

    from pevl.predict.model import ModelError, load_model
    from pevl.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(run.checkpoint)
    names = [c["name"] for c in ckpt["classes"]]
    assert load_model(run.checkpoint, "cpu").classes == ckpt["classes"]  # carried by the checkpoint
    bare = {k: v for k, v in ckpt.items() if k != "classes"}
    torch.save(bare, tmp_path / "run_folder.pt")  # still under the config's work dir: the shards' classes.json
    assert [c["name"] for c in load_model(tmp_path / "run_folder.pt", "cpu").classes] == names
    bare["config"] = {**bare["config"], "work_dir": str(tmp_path / "elsewhere")}
    lonely = tmp_path / "lonely" / "best.pt"
    lonely.parent.mkdir()
    torch.save(bare, lonely)
    with pytest.raises(ModelError, match=f"{lonely} holds no class texts"):
        load_model(lonely, "cpu")
    (lonely.parent / "classes.json").write_text((paths.train_dir(run.cfg) / "classes.json").read_text())
    assert [c["name"] for c in load_model(lonely, "cpu").classes] == names  # the run folder's classes.json


def test_inputs_folders_and_list_files(tmp_path):
    (tmp_path / "v" / "sub").mkdir(parents=True)
    for name in ("v/b.mp4", "v/sub/a.MKV", "v/c.webm", "v/.hidden.mp4", "v/notes.txt", "v/x.avi"):
        (tmp_path / name).write_bytes(b"x")
    listing = tmp_path / "list.txt"
    listing.write_text("# comment\n\nv/b.mp4\n/abs/clip.mp4\t5\t40\nv/b.mp4\n")
    videos = collect_videos([str(tmp_path / "v"), str(listing), str(tmp_path / "missing.mp4")])
    assert videos == [VideoInput(tmp_path / "v/b.mp4"), VideoInput(tmp_path / "v/c.webm"),
                      VideoInput(tmp_path / "v/sub/a.MKV"), VideoInput(Path("/abs/clip.mp4"), 5, 40),
                      VideoInput(tmp_path / "missing.mp4")]
    listing.write_text("v/b.mp4\t5\n")
    with pytest.raises(InputError, match=f"{listing}:1: expected PATH or PATH<TAB>START<TAB>END"):
        collect_videos([str(listing)])
    listing.write_text("v/b.mp4\t9\t3\n")
    with pytest.raises(InputError, match="the frame range 9..3 is empty"):
        collect_videos([str(listing)])
    assert collect_videos([str(tmp_path / "v" / "x.avi")]) == [VideoInput(tmp_path / "v" / "x.avi")]  # named: tried
