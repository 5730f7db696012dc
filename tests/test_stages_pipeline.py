"""`pevl run` on a tiny Diving48 fixture: bad inputs become rejects, nothing is lost, reruns are free,
--force recomputes only what depends on the forced stage, worker processes give the same shards."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from fixtures_data import good_records, record, write_config, write_diving48, write_truncated_videos
from pevl import paths
from pevl.cli import main
from pevl.shards import iter_samples, shard_urls, verify_shards
from schemas import load_config

BAD_TRAIN = [
    record("../../x", 0),                          # escapes the root
    {"vid_name": "nofields", "label": 1},          # missing fields
    record("oob", 9),                              # label out of range (4 classes)
    record("gone", 1),                             # missing file
    record("one_frame", 2, 5, 6),                  # a 1-frame clip
]
BAD_TEST = [record("empty", 0), record("notvideo", 1), record("trunc_tail", 2), record("trunc_fast", 3)]


def _dataset(tmp_path, good: int = 5):
    root = write_diving48(tmp_path / "d48", good_records(good) + BAD_TRAIN[:4] + [record("one_frame", 2, 5, 6)],
                          [record("testclip", 3)] + BAD_TEST)
    (root / "rgb" / "gone.mp4").unlink()
    (root / "rgb" / "empty.mp4").write_bytes(b"")
    (root / "rgb" / "notvideo.mp4").write_bytes(b"GIF89a this is not a video" * 20)
    write_truncated_videos(root, root / "rgb" / "clip00.mp4")
    return root


def _tar_bytes(cfg) -> dict[str, bytes]:
    folder = paths.shards_dir(cfg)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.glob("*/*.tar"))}


def test_bad_inputs_are_rejects_and_nothing_is_lost(tmp_path, capsys):
    root = _dataset(tmp_path)
    config = write_config(tmp_path, root)
    assert main(["run", str(config), "--stages", "ingest,decode,poses,shard"]) == 0
    out = capsys.readouterr().out
    records = 5 + 5 + 1 + 4
    assert f"clips: {records}, samples: 6, rejects: 9" in out
    assert f"records = samples + rejects: {records} = 6 + 9 (ok)" in out
    for kind in ["ingest/path escapes the dataset root: 1", "ingest/bad annotation: 1",
                 "ingest/label out of range: 1", "ingest/missing file: 1", "decode/too short: 1",
                 "decode/empty file: 1", "decode/undecodable: 2", "decode/truncated: 1"]:
        assert kind in out
    cfg = load_config(config)
    rejects = pq.read_table(paths.shards_dir(cfg) / "rejects.parquet").to_pylist()
    by_id = {r["clip_id"]: r for r in rejects}
    assert set(by_id) == {"../../x", "nofields", "oob", "gone", "one_frame", "empty", "notvideo",
                          "trunc_tail", "trunc_fast"}
    assert by_id["one_frame"]["reason"] == "too short: the clip has 1 source frame(s), at least 2 needed"
    assert by_id["trunc_fast"]["stage"] == "decode" and "ends after" in by_id["trunc_fast"]["reason"]
    summary = json.loads((paths.shards_dir(cfg) / "summary.json").read_text())
    assert summary["ok"] and summary["records"] == records


def test_shards_hold_aligned_video_pose_and_meta(tmp_path):
    config = write_config(tmp_path, write_diving48(tmp_path / "d48", good_records(4), [record("t1", 1)]))
    assert main(["run", str(config)]) == 0
    cfg = load_config(config)
    folder = paths.shards_dir(cfg)
    assert json.loads((folder / "sizes.json").read_text()) == {"train": 4, "val": 0, "test": 1}
    assert [p.name for p in (folder / "train").glob("*.tar")] != [] and not list(folder.rglob("*.tmp"))
    samples = list(iter_samples(shard_urls(folder, "train")))
    assert len(samples) == 4
    for frames, pose, meta in samples:
        assert frames.shape == (4, 32, 42, 3) and frames.dtype == np.uint8
        assert pose.shape == (4, 17, 3) and pose.dtype == np.float32
        assert meta.pose_backend == "ground_truth" and meta.source == f"rgb/{meta.clip_id}.mp4"
        assert len(meta.frame_indices) == 4 and meta.fps == 25.0
        # the fixture's joint 0 sits at x = 0.2 W_src + t (source pixels): scaled to the stored width
        expected = (64 * 0.2 + np.asarray(meta.frame_indices)) * 42 / 64
        assert np.allclose(pose[:, 0, 0], expected, atol=1e-3)
    assert {m.key for _, _, m in samples} == {"clip00", "-clip01", "_clip02", "clip03"}
    assert verify_shards(folder) == (5, [])


def test_second_run_recomputes_nothing_and_says_so(tmp_path, capsys):
    config = write_config(tmp_path, write_diving48(tmp_path / "d48", good_records(3), []))
    assert main(["run", str(config)]) == 0
    tars = _tar_bytes(load_config(config))
    marker = paths.shards_dir(load_config(config)) / "_COMPLETE"
    before = marker.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["run", str(config)]) == 0
    out = capsys.readouterr().out
    assert "nothing recomputed" in out
    assert all(f"{s}: skipped" in out for s in ("ingest", "decode", "poses", "shard"))
    assert marker.stat().st_mtime_ns == before and _tar_bytes(load_config(config)) == tars


def test_force_recomputes_the_stage_and_what_depends_on_it(tmp_path, capsys):
    config = write_config(tmp_path, write_diving48(tmp_path / "d48", good_records(3), []))
    assert main(["run", str(config)]) == 0
    cfg = load_config(config)
    tars = _tar_bytes(cfg)
    capsys.readouterr()
    assert main(["run", str(config), "--force", "poses"]) == 0
    out = capsys.readouterr().out
    assert "ingest: skipped" in out and "decode: skipped" in out
    assert "poses: done" in out and "shard: done" in out  # shard's input changed: recomputed
    assert _tar_bytes(cfg) == tars  # deterministic poses -> identical shards


def test_worker_processes_give_identical_shards(tmp_path):
    root = write_diving48(tmp_path / "d48", good_records(4), [record("t1", 1)])
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    one = write_config(tmp_path / "a", root)
    two = write_config(tmp_path / "b", root, decode={"workers": 2}, poses={"workers": 2})
    assert main(["run", str(one)]) == 0 and main(["run", str(two)]) == 0
    assert _tar_bytes(load_config(one)) == _tar_bytes(load_config(two)) != {}


def test_pose_failure_on_one_clip_is_a_reject(tmp_path, capsys):
    root = write_diving48(tmp_path / "d48", good_records(3), [])
    (root / "keypoints" / "clip00.npy").unlink()
    assert main(["run", str(write_config(tmp_path, root))]) == 0
    out = capsys.readouterr().out
    assert "clips: 3, samples: 2, rejects: 1" in out and "poses/poses failed: 1" in out


@pytest.mark.parametrize("problem", ["no_root", "no_keypoints"])
def test_unusable_dataset_stops_with_a_clear_message(tmp_path, caplog, problem):
    root = write_diving48(tmp_path / "d48", good_records(2), [])
    if problem == "no_root":
        root = tmp_path / "nowhere"
    else:
        for p in (root / "keypoints").iterdir():
            p.unlink()
        (root / "keypoints").rmdir()
    assert main(["run", str(write_config(tmp_path, root))]) == 2
    expected = "does not exist or is not a folder" if problem == "no_root" else "needs ground-truth joints"
    assert expected in caplog.text


def test_an_edited_annotation_file_is_read_again(tmp_path, capsys):
    root = write_diving48(tmp_path / "d48", good_records(3), [])
    config = write_config(tmp_path, root)
    assert main(["run", str(config)]) == 0
    write_diving48(root, good_records(3), [record("clip00", 1)])  # now also a test clip (same video)
    capsys.readouterr()
    assert main(["run", str(config)]) == 0
    out = capsys.readouterr().out
    assert "ingest: done" in out and "clips: 4, samples: 3, rejects: 1" in out
    assert "ingest/duplicate clip id: 1" in out


def test_rtmlib_backend_end_to_end_on_stand_in_models(tmp_path):
    """rtmlib through the poses stage on random-weight stand-ins with rtmlib's exact ONNX signatures
    (real weights cannot be downloaded here); their detector boxes the white block of the fixture."""
    from onnx_models import export_models

    models = export_models(tmp_path / "models")
    root = write_diving48(tmp_path / "d48", good_records(2), [], keypoints=False)
    config = write_config(tmp_path, root, poses={"backend": "rtmlib", "rtmlib": {
        "det_model": str(models["det"]), "pose_model": str(models["pose"])}})
    assert main(["run", str(config)]) == 0
    cfg = load_config(config)
    samples = list(iter_samples(shard_urls(paths.shards_dir(cfg), "train")))
    assert len(samples) == 2
    for frames, pose, meta in samples:
        assert meta.pose_backend == "rtmlib" and "rtmpose_standin" in meta.pose_model
        assert pose.shape == (4, 17, 3) and (pose[..., 2] > 0).all()
        # the joints sit inside the white block (stored frames: 42 x 32, block rows 16-28 of 48 -> 10.7-18.7)
        assert (pose[..., 1] > 8).all() and (pose[..., 1] < 21).all()
