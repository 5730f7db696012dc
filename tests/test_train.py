"""`pevl train` + evaluate end to end: real shards, the real tiny PeVL, a real MLflow server."""

import json
from pathlib import Path

import pytest

from train_fixtures import migrated_mlflow_uri, tiny_config, write_fixture_shards  # noqa: F401 (fixture mlflow_uri)

pytestmark = pytest.mark.slow  # subprocesses / a real server: tens of seconds


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mlflow_uri):
    from pevl.stages.train import run_evaluate, run_train

    cfg = tiny_config(tmp_path_factory.mktemp("train"),
                      [f"tracking.uri={mlflow_uri}", "train.test_checkpoint=best", "tracking.experiment=train-e2e",
                       "train.crop=frame"])  # frame crops: the evaluate command's 2 x 3 views below
    write_fixture_shards(cfg)
    trained = run_train(cfg, tags={"prefect.flow_run_id": "flow-123"})
    tested = run_evaluate(cfg)
    return cfg, trained, tested


def test_checkpoints_hold_config_model_optimizer_scheduler_step_and_rng(trained):
    import torch

    from pevl.eval.evaluate import load_model_from_checkpoint
    from pevl.train.checkpoint import config_of, load_checkpoint

    cfg, result, _ = trained
    assert Path(result.info["checkpoint"]) == Path(result.info["best"])
    ckpt = load_checkpoint(Path(result.info["last"]))
    assert config_of(ckpt) == cfg and ckpt["epoch"] == 2 and ckpt["step"] == 8  # 16 clips / batch 4 x 2
    assert ckpt["optimizer"]["state"] and ckpt["scheduler"]["last_epoch"] == 8
    assert {"torch", "numpy", "python"} <= set(ckpt["rng"]) and ckpt["model_state"] == "full"
    assert [c["name"] for c in ckpt["classes"]] == ["top-left", "top-right", "bottom-left", "bottom-right"]
    assert ckpt["mlflow_run_id"] == result.info["mlflow_run_id"]
    model = load_model_from_checkpoint(ckpt, torch.device("cpu"))  # no YAML, no index needed
    scores = model.predict(torch.zeros(1, 4, 3, 32, 32), torch.rand(1, 4, 17, 3))
    assert scores.shape == (1, 4) and torch.isfinite(scores).all()
    assert len(ckpt["history"]) == 2 and "val/top1" in ckpt["history"][-1]


def test_mlflow_run_has_metrics_params_tags_and_artifacts(trained, mlflow_uri):
    import mlflow
    from mlflow.tracking import MlflowClient

    cfg, result, tested = trained
    mlflow.set_tracking_uri(mlflow_uri)
    runs = mlflow.search_runs(experiment_names=["train-e2e"])
    assert len(runs) == 1
    row = runs.iloc[0]
    assert row["run_id"] == result.info["mlflow_run_id"] == tested.info["mlflow_run_id"]
    assert row["status"] == "FINISHED"
    for key in ("train/loss", "train/lr", "train/sgmc", "train/ucmr", "val/top1", "test/top1", "test/top5",
                "test/mean_class_acc", "test/attr/vertical", "test/attr/horizontal"):
        assert f"metrics.{key}" in row, key
    assert row["metrics.test/top1"] == pytest.approx(tested.metrics["test/top1"])
    assert row["params.train.lr"] == "0.003" and row["params.model.image_size"] == "32"
    assert row["tags.dataset"] == "synthdive" and row["tags.prefect.flow_run_id"] == "flow-123"
    assert row["tags.git_commit"] and row["tags.ablation"] == "none"
    client = MlflowClient(mlflow_uri)
    assert len(client.get_metric_history(row["run_id"], "train/loss")) == 8  # log_every=1, 8 steps

    def files(path=None):
        for item in client.list_artifacts(row["run_id"], path):
            yield from files(item.path) if item.is_dir else [item.path]

    names = set(files())
    assert {"config.yaml", "classes.json", "checkpoints/best.pt", "eval/test/confusion.png",
            "eval/test/pose_overlay.png", "eval/test/per_class.csv", "eval/test/metrics.json"} <= names


def test_rerun_reuses_the_output_and_logs_no_new_run(trained, mlflow_uri):
    import mlflow

    from pevl.stages.train import run_evaluate, run_train

    cfg, result, tested = trained
    again = run_train(cfg)
    assert again.skipped and again.info == result.info and again.metrics == result.metrics
    assert run_evaluate(cfg).skipped
    mlflow.set_tracking_uri(mlflow_uri)
    assert len(mlflow.search_runs(experiment_names=["train-e2e"])) == 1


def test_evaluate_command_multiview_reports(trained, tmp_path, capsys):
    from pevl.cli import main

    cfg, result, _ = trained
    out = tmp_path / "report"
    assert main(["evaluate", result.info["best"], "--clips", "2", "--crops", "3", "--out", str(out), "--no-track"]) == 0
    text = capsys.readouterr().out
    assert "2 clips x 3 crops" in text and "test/top1" in text and "test/attr/vertical" in text
    report = json.loads((out / "metrics.json").read_text())
    assert report["views"] == {"clips": 2, "crops": 3} and report["metrics"]["test/num_samples"] == 8
    for name in ("confusion.png", "per_class.csv", "predictions.csv", "pose_overlay.png"):
        assert (out / name).stat().st_size > 0
