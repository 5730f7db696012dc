"""Grid rows as separate work without Prefect: the lent work dir lock, the per-folder lock, the plan of
data steps, rows that change data (real SynthDive stages), a failing row, and a rerun after a kill."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from pevl import paths
from pevl.grid.spec import expand, load_grid
from pevl.grid.schedule import plan_grid
from pevl.storage.lock import WorkDirBusy, folder_lock, inherited_lock, lease, work_dir_lock
from pevl.storage.outputs import StageError, read_marker
from train_fixtures import tiny_config, write_fixture_shards

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import sys
from pathlib import Path
from pevl.storage.lock import inherited_lock, work_dir_lock
with inherited_lock(Path(sys.argv[1]), sys.argv[2]):
    with work_dir_lock(Path(sys.argv[1])):  # what a data stage does inside a row: re-enters the lent lock
        Path(sys.argv[3]).write_text("worked")
"""
# a small SynthDive through the real data stages: 3 classes x 2 clips of 64x48, 8 frames of 32 px
SYNTH = ["dataset.synth.clips_per_class=2", "dataset.synth.classes=[0,1,2]", "dataset.synth.width=64",
         "dataset.synth.height=48", "dataset.synth.workers=1", "decode.frames=8", "decode.short_side=32",
         "decode.workers=1", "poses.workers=1", "train.epochs=1", "tracking.enabled=false"]


def _grid(tmp_path: Path, runs: list[dict], name: str = "g") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "runs": runs}))
    return path


def _child(work: Path, token: str, flag: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, str(work), token, str(flag)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_a_child_process_works_under_the_lock_its_parent_lent_and_only_then(tmp_path):
    work = tmp_path / "work"
    with work_dir_lock(work):
        token = lease(work)
        assert _child(work, token, tmp_path / "ok").returncode == 0 and (tmp_path / "ok").read_text() == "worked"
        refused = _child(work, "not-the-token", tmp_path / "no")
        assert refused.returncode != 0 and "WorkDirBusy" in refused.stderr and not (tmp_path / "no").exists()
    late = _child(work, token, tmp_path / "late")  # the lender is done: its lease is void
    assert late.returncode != 0 and "no longer holds it" in late.stderr and not (tmp_path / "late").exists()
    with pytest.raises(StageError, match="holds no lock"):
        lease(work)
    with pytest.raises(WorkDirBusy):
        with inherited_lock(work, token):
            pass


def test_folder_lock_keeps_two_writers_of_one_folder_apart(tmp_path):
    spans = []

    def write() -> None:
        with folder_lock(tmp_path / "shards" / "abc"):
            t0 = time.monotonic()
            time.sleep(0.3)
            spans.append((t0, time.monotonic()))

    threads = [threading.Thread(target=write) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (a0, a1), (b0, b1) = sorted(spans)
    assert a1 <= b0  # one after the other, never both inside


def test_plan_gives_pose_rows_their_own_poses_and_shards_and_training_rows_the_base_shards(tmp_path):
    grid = _grid(tmp_path, [{"name": "lr", "set": {"train.lr": 0.01}},
                            {"name": "jitter", "set": {"poses.ground_truth.jitter_px": 4.0}},
                            {"name": "jitter_big_lr", "set": {"poses.ground_truth.jitter_px": 4.0, "train.lr": 0.01}}])
    cfg = tiny_config(tmp_path, ["grid.seeds=[0,1]"])
    children = expand(cfg, load_grid(grid))
    plan = plan_grid(children)
    assert [c.data for c in children] == [(), ()] + [("poses", "shard")] * 4  # rows x seeds 0, 1
    assert [s.stage for s in plan.steps] == ["decode", "poses", "shard"]  # shared by both jitter rows and seeds
    assert plan.steps[0].folder == str(paths.decode_dir(cfg))  # the decoded clips are the base's
    assert plan.steps[1].folder != str(paths.poses_dir(cfg)) and plan.steps[2].folder != str(paths.shards_dir(cfg))
    lr_jobs = [j for j in plan.jobs if j.name == "lr"]
    assert all(not j.needs and paths.shards_dir(j.cfg) == paths.shards_dir(cfg) for j in lr_jobs)
    with pytest.raises(Exception, match="dataset.root"):
        expand(cfg, load_grid(_grid(tmp_path, [{"name": "other", "set": {"dataset.root": "/elsewhere"}}], "bad")))


def test_rows_that_change_data_run_their_own_stages_and_a_failing_row_does_not_stop_the_grid(tmp_path):
    from pevl.grid.stage import GridRowsFailed, run_grid
    from pevl.pipeline import DATA_STAGES, run_stages

    grid = _grid(tmp_path, [{"name": "base", "set": {}},
                            {"name": "lr", "set": {"train.lr": 0.01}},
                            {"name": "jitter", "set": {"poses.ground_truth.jitter_px": 4.0}},
                            {"name": "broken", "set": {"model.pretrained": str(tmp_path / "no-such-weights.pt")}}])
    cfg = tiny_config(tmp_path, [*SYNTH, f"grid.file={grid}", "grid.parallel=2", "orchestration.task_runner=process"])
    run_stages(cfg, DATA_STAGES)
    decoded = read_marker(paths.decode_dir(cfg))["token"]
    with pytest.raises(GridRowsFailed, match="broken") as failed:
        run_grid(cfg)
    assert "3 of 4" not in str(failed.value) and "1 of 4 runs failed" in str(failed.value)
    folder = paths.grid_dir(cfg, load_grid(grid).model_dump(mode="json"))
    rows = {r["name"]: r for r in json.loads((folder / "rows.json").read_text())}
    assert [rows[n]["status"] for n in ("base", "lr", "jitter")] == ["ran", "ran", "ran"]
    assert rows["broken"]["status"] == "failed" and "PretrainedNotFound" in rows["broken"]["error"]
    assert rows["jitter"]["own_data"] == ["poses", "shard"]
    assert rows["jitter"]["data"] == {"decode": "reused", "poses": "ran", "shard": "ran"}  # decoded clips reused
    assert rows["lr"]["own_data"] == [] and rows["lr"]["data"] == {}  # the base shards
    assert read_marker(paths.decode_dir(cfg))["token"] == decoded  # decode never reran
    table = (folder / "comparison.md").read_text()
    assert "| jitter |" in table and "own poses, shard |" in table and "| base |" in table
    assert "| broken | failed | failed |" in table and "broken failed: seed 0: PretrainedNotFound" in table
    assert not (folder / "_COMPLETE").exists()  # a grid with a failed row is not complete

    with pytest.raises(GridRowsFailed):  # the rerun reuses every finished row and retries the failed one
        run_grid(cfg)
    rows = {r["name"]: r for r in json.loads((folder / "rows.json").read_text())}
    assert [rows[n]["status"] for n in ("base", "lr", "jitter", "broken")] == ["reused", "reused", "reused", "failed"]
    assert rows["jitter"]["data"] == {"decode": "reused", "poses": "reused", "shard": "reused"}


def test_a_grid_killed_mid_way_reuses_its_finished_rows_when_rerun(tmp_path):
    from pevl.cli import main
    from pevl.stages.train import eval_dir
    from schemas import save_config

    grid = _grid(tmp_path, [{"name": "quick", "set": {"train.epochs": 1}},
                            {"name": "slow", "set": {"train.epochs": 12}}])
    cfg = tiny_config(tmp_path, ["tracking.enabled=false", f"grid.file={grid}"])
    write_fixture_shards(cfg)
    config = save_config(cfg, tmp_path / "tiny.yaml")
    quick, slow = (c.cfg for c in expand(cfg, load_grid(grid)))
    proc = subprocess.Popen([sys.executable, "-m", "pevl.cli", "grid", str(config)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not (eval_dir(quick) / "_COMPLETE").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the grid ended before its first row"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (eval_dir(slow) / "_COMPLETE").exists()  # killed while the second row trained
    assert main(["grid", str(config)]) == 0
    folder = paths.grid_dir(cfg, load_grid(grid).model_dump(mode="json"))
    rows = json.loads((folder / "rows.json").read_text())
    assert [(r["name"], r["status"]) for r in rows] == [("quick", "reused"), ("slow", "ran")]


def test_the_pose_quality_study_grid_expands_on_the_demo_grid_config():
    from schemas import load_config

    cfg = load_config(ROOT / "configs/demo-grid.yaml", ["grid.seeds=[0,1]"])
    spec = load_grid(ROOT / "configs/studies/pose_quality.yaml")
    children = expand(cfg, spec)
    assert len(spec.runs) == 18 and len(children) == 36
    by_name = {c.name: c for c in children}
    assert by_name["jitter8/full"].cfg.poses.ground_truth.jitter_px == 8.0
    assert by_name["detector/no_pose"].cfg.poses.backend == "rtmlib" and not by_name["detector/no_pose"].cfg.model.use_pose
    assert not by_name["gt/no_refine"].cfg.model.ucmr.use_refine_supervision
    # every ground-truth condition has its own poses, one decode; the detector rows use the base config's
    # own poses (configs/demo-grid.yaml runs the embedded rtmlib models)
    assert all(c.data == ("poses", "shard") for c in children if not c.name.startswith("detector/"))
    assert all(c.data == () for c in children if c.name.startswith("detector/"))
    plan = plan_grid(children)
    assert [s.stage for s in plan.steps].count("decode") == 1 and [s.stage for s in plan.steps].count("poses") == 7


def test_a_row_whose_data_stage_fails_is_failed_and_the_rows_on_the_base_shards_finish(tmp_path):
    from pevl.grid.stage import GridRowsFailed, run_grid

    grid = _grid(tmp_path, [{"name": "jitter", "set": {"poses.ground_truth.jitter_px": 4.0}},
                            {"name": "lr", "set": {"train.lr": 0.01}}])
    cfg = tiny_config(tmp_path, ["train.epochs=1", "tracking.enabled=false", f"grid.file={grid}"])
    write_fixture_shards(cfg, train_per_class=1, test_per_class=1)  # base shards, but no clip index to decode
    with pytest.raises(GridRowsFailed, match="jitter"):
        run_grid(cfg)
    rows = json.loads((paths.grid_dir(cfg, load_grid(grid).model_dump(mode="json")) / "rows.json").read_text())
    assert [(r["name"], r["status"]) for r in rows] == [("jitter", "failed"), ("lr", "ran")]
    assert "data step" in rows[0]["error"] and rows[0]["data"]["decode"].startswith("failed")
    assert rows[0]["data"]["poses"].startswith("failed")  # never started: its input failed
