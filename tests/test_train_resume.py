"""A training run killed with SIGKILL and started again ends exactly like an uninterrupted run (CPU, seed)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from train_fixtures import ROOT, tiny_config, write_fixture_shards

pytestmark = pytest.mark.slow  # subprocesses / a real server: tens of seconds


def test_sigkill_mid_run_then_restart_matches_uninterrupted_run(tmp_path):
    import torch

    from pevl import paths
    from pevl.stages.train import run_train
    from pevl.train.checkpoint import load_checkpoint
    from schemas import save_config

    cfg = tiny_config(tmp_path, ["train.epochs=3", "tracking.enabled=false"])
    write_fixture_shards(cfg)
    reference = run_train(cfg)  # uninterrupted, in this process
    folder = paths.train_dir(cfg)
    ref_weights = load_checkpoint(folder / "last.pt")["model"]
    shutil.move(folder, tmp_path / "reference")

    cmd = [sys.executable, "-m", "pevl.cli", "train", str(save_config(cfg, tmp_path / "cfg.yaml"))]
    with open(tmp_path / "killed.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            while proc.poll() is None and not (folder / "last.pt").exists():
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)  # mid-run: epoch 1 saved, epochs 2-3 to go
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text()[-2000:]
    killed_at = load_checkpoint(folder / "last.pt")["epoch"]
    assert killed_at < 3 and not (folder / "result.json").exists()

    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resumed from {folder / 'last.pt'} at epoch {killed_at}" in done.stderr
    resumed = json.loads((folder / "result.json").read_text())
    assert resumed["counts"]["epochs_run"] == 3 - killed_at
    for key, value in reference.metrics.items():
        assert resumed["metrics"][key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
    weights = load_checkpoint(folder / "last.pt")["model"]
    assert all(torch.allclose(weights[k], ref_weights[k], atol=1e-6) for k in ref_weights)
