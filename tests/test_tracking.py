"""MLflow tracking: URI resolution, params/tags/metrics/artifacts of a real sqlite-backed store, threads."""

import threading
from pathlib import Path

import pytest

from pevl.tracking.runs import Tracker, attach_run, config_params, experiment_name, start_run, tracking_uri
from schemas import load_config
from train_fixtures import sqlite_uri

ROOT = Path(__file__).resolve().parents[1]


def _cfg(tmp_path, *overrides):
    return load_config(ROOT / "configs/demo.yaml", [f"work_dir={tmp_path / 'work'}", *overrides])


def test_uri_comes_from_config_then_environment_then_work_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = _cfg(tmp_path)
    assert tracking_uri(cfg) == f"sqlite:///{(tmp_path / 'work' / 'mlflow.db').resolve()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking_uri(cfg) == "http://127.0.0.1:5999"
    assert tracking_uri(_cfg(tmp_path, "tracking.uri=http://127.0.0.1:5000")) == "http://127.0.0.1:5000"
    monkeypatch.chdir(tmp_path)
    assert tracking_uri(_cfg(tmp_path, "tracking.uri=sqlite:///rel/m.db")) == f"sqlite:///{tmp_path / 'rel/m.db'}"
    with pytest.raises(ValueError, match="file stores are deprecated"):
        tracking_uri(_cfg(tmp_path, "tracking.uri=./mlruns"))
    assert experiment_name(cfg) == "pevl-synthdive"
    assert experiment_name(_cfg(tmp_path, "tracking.experiment=mine")) == "mine"


def test_disabled_tracking_is_a_no_op(tmp_path):
    tracker = start_run(_cfg(tmp_path, "tracking.enabled=false"), "x")
    assert not tracker.active
    tracker.log_metrics({"a": 1.0}, 1)
    tracker.end()
    assert not (tmp_path / "work" / "mlflow.db").exists()


@pytest.fixture(scope="module")
def sqlite_cfg(tmp_path_factory):
    import mlflow

    tmp = tmp_path_factory.mktemp("tracking")
    cfg = _cfg(tmp, f"tracking.uri={sqlite_uri(tmp_path_factory, tmp)}")
    mlflow.set_tracking_uri(tracking_uri(cfg))  # for mlflow.search_runs
    yield cfg
    mlflow.set_tracking_uri(None)


def test_run_has_params_tags_metrics_and_artifacts(sqlite_cfg, tmp_path):
    import mlflow
    from mlflow.tracking import MlflowClient

    tracker = start_run(sqlite_cfg, "demo-run", "components/+Pose", None,
                        {"prefect.flow_run_id": "fr-1", "prefect.deployment": "full-pipeline"})
    tracker.log_metrics({"train/loss": 2.0, "train/lr": 0.1}, 1)
    tracker.log_metrics({"train/loss": 1.5}, 2)
    note = tmp_path / "config.yaml"
    note.write_text("a: 1\n")
    tracker.log_artifact(note)
    tracker.end()
    runs = mlflow.search_runs(experiment_names=["pevl-synthdive"], filter_string=f"attributes.run_id = '{tracker.run_id}'")
    row = runs.iloc[0]
    assert row["status"] == "FINISHED" and row["metrics.train/loss"] == 1.5
    assert row["tags.dataset"] == "synthdive" and row["tags.ablation"] == "components/+Pose"
    assert row["tags.prefect.flow_run_id"] == "fr-1" and len(row["tags.git_commit"]) >= 7
    flat = config_params(sqlite_cfg)
    assert row["params.train.lr"] == flat["train.lr"] and row["params.model.ucmr.use_p2v"] == "True"
    assert sum(c.startswith("params.") for c in runs.columns) == len(flat)
    client = MlflowClient(tracking_uri(sqlite_cfg))
    assert [m.value for m in client.get_metric_history(tracker.run_id, "train/loss")] == [2.0, 1.5]
    assert [a.path for a in client.list_artifacts(tracker.run_id)] == ["config.yaml"]
    artifact_uri = client.get_run(tracker.run_id).info.artifact_uri
    assert artifact_uri.startswith((Path(sqlite_cfg.work_dir).resolve() / "mlartifacts").as_uri())


def test_runs_log_from_threads_with_explicit_ids(sqlite_cfg):
    import mlflow

    trackers = [start_run(sqlite_cfg, f"thread-{i}", "threads") for i in range(3)]
    errors = []

    def work(i: int, tracker: Tracker) -> None:
        try:
            for step in range(5):
                tracker.log_metrics({"val/top1": i + step / 10}, step)
            tracker.end()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i, t)) for i, t in enumerate(trackers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    runs = mlflow.search_runs(experiment_names=["pevl-synthdive"], filter_string="tags.ablation = 'threads'")
    assert sorted(runs["metrics.val/top1"]) == pytest.approx([0.4, 1.4, 2.4])
    again = attach_run(sqlite_cfg, trackers[0].run_id)
    again.log_metrics({"test/top1": 0.9}, 10)
    again.end()
    run = mlflow.get_run(trackers[0].run_id)
    assert run.data.metrics["test/top1"] == 0.9 and run.info.status == "FINISHED"
