"""DDP on CPU: `pevl train` with train.processes=2 launches torchrun (gloo); ranks split data and stay in sync."""

import subprocess
import sys

import pytest

from train_fixtures import ROOT, sqlite_uri, tiny_config, write_fixture_shards

pytestmark = pytest.mark.slow  # subprocesses / a real server: tens of seconds


def test_two_cpu_processes_under_torchrun(tmp_path, tmp_path_factory):
    import mlflow

    from pevl import paths
    from pevl.train.checkpoint import load_checkpoint
    from schemas import save_config

    uri = sqlite_uri(tmp_path_factory, tmp_path)
    cfg = tiny_config(tmp_path, ["train.processes=2", "train.epochs=1", f"tracking.uri={uri}",
                                 "tracking.log_checkpoint=false"])
    write_fixture_shards(cfg)
    cmd = [sys.executable, "-m", "pevl.cli", "train", str(save_config(cfg, tmp_path / "cfg.yaml")), "--tag", "suite=ddp"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "rank 1 of 2" in done.stderr  # the second process joined the gloo group
    # both ranks tore the group down after the closing barrier (no rank exits while another works)
    assert "rank 0 of 2 left the process group" in done.stderr and "rank 1 of 2 left the process group" in done.stderr
    # every parameter feeds the loss: DDP skips the unused-parameter search (and its warning)
    assert "find_unused_parameters=True was specified" not in done.stderr
    ckpt = load_checkpoint(paths.train_dir(cfg) / "last.pt")
    # 16 train clips, batch 4 per rank, 2 ranks -> 2 steps; the replicas were checked equal at the end
    assert ckpt["world_size"] == 2 and ckpt["step"] == 2
    val = ckpt["history"][-1]
    assert val["val/num_samples"] == 8  # every test clip once across both ranks
    mlflow.set_tracking_uri(uri)
    try:
        runs = mlflow.search_runs(experiment_names=["pevl-synthdive"])
    finally:
        mlflow.set_tracking_uri(None)
    assert len(runs) == 1  # rank 0 alone logs
    row = runs.iloc[0]
    assert row["tags.world_size"] == "2" and row["tags.suite"] == "ddp" and row["status"] == "FINISHED"
    assert row["metrics.val/top1"] == pytest.approx(val["val/top1"])
