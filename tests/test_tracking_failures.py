"""A dead tracking server: refused before training (or untracked by config), and killed mid-run.

Real MLflow servers (tests/servers.py) are started and killed; nothing is mocked. Timings are
not asserted here (speed belongs to benchmarks, not tests).
"""

import os
import signal
import threading
from pathlib import Path

import pytest

from pevl import paths
from pevl.services import servers as services
from pevl.cli import main
from pevl.tracking.runs import HTTP_LIMITS, Tracker, server_problem, start_run
from schemas import load_config, save_config
from servers import mlflow_server, wait_for
from train_fixtures import tiny_config, write_fixture_shards

ROOT = Path(__file__).resolve().parents[1]


def _dead_uri() -> str:
    return f"http://127.0.0.1:{services.free_port()}"


def _kill(state: Path, name: str) -> None:
    """SIGKILL a started service's whole process group (a crash, not a clean stop)."""
    rec = services.running(state, name)
    os.killpg(rec.pid, signal.SIGKILL)
    assert wait_for(lambda: services.running(state, name) is None, 30)


@pytest.fixture
def bounded_env(monkeypatch):
    """Start each test without MLflow HTTP settings; whatever the code sets is undone afterwards."""
    for key in HTTP_LIMITS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def test_unreachable_server_stops_training_before_any_work_with_exit_2(tmp_path, bounded_env, caplog):
    uri = _dead_uri()
    cfg = tiny_config(tmp_path, [f"tracking.uri={uri}", "train.epochs=1"])
    write_fixture_shards(cfg, train_per_class=1, test_per_class=1)
    config = save_config(cfg, tmp_path / "tiny.yaml")
    assert main(["train", str(config)]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and len(errors[0].splitlines()) == 1, errors
    assert f"MLflow tracking server {uri} does not answer" in errors[0]
    assert "tracking.on_unreachable=untracked" in errors[0]
    assert not (paths.train_dir(cfg) / "last.pt").exists()
    # MLflow's retries are bounded in the process (and its torchrun children) from here on.
    assert {k: os.environ[k] for k in HTTP_LIMITS} == HTTP_LIMITS


def test_user_set_http_limits_are_kept(tmp_path, bounded_env, monkeypatch):
    from pevl.tracking.runs import check_tracking

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5")
    cfg = tiny_config(tmp_path, [f"tracking.uri={_dead_uri()}", "tracking.on_unreachable=untracked"])
    assert check_tracking(cfg) is False
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "5"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == HTTP_LIMITS["MLFLOW_HTTP_REQUEST_TIMEOUT"]


def test_untracked_by_config_trains_and_says_so(tmp_path, bounded_env, caplog):
    from pevl.stages.train import run_train

    cfg = tiny_config(tmp_path, [f"tracking.uri={_dead_uri()}", "tracking.on_unreachable=untracked",
                                 "train.epochs=1"])
    write_fixture_shards(cfg, train_per_class=1, test_per_class=1)
    result = run_train(cfg)
    assert result.info["mlflow_run_id"] == "" and Path(result.info["last"]).is_file()
    assert any("training UNTRACKED" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    saved = load_config(Path(result.output) / "config.yaml")
    assert saved.tracking.enabled is False  # the run's own record says it was not tracked


def test_a_server_killed_mid_run_is_logged_once_and_the_run_is_marked_when_it_returns(tmp_path, bounded_env, caplog):
    state = tmp_path / "state"
    port = services.free_port()
    with mlflow_server(state, port) as rec:
        cfg = tiny_config(tmp_path, [f"tracking.uri={rec.url}"])
        tracker = start_run(cfg, "dies-mid-run")
        tracker.log_metrics({"train/loss": 1.0}, 1)
        _kill(state, "mlflow")
        assert server_problem(rec.url)
        for step in range(2, 6):
            tracker.log_metrics({"train/loss": 1.0 / step}, step)  # never raises
        tracker.log_artifact(save_config(cfg, tmp_path / "c.yaml"))
        warnings = [r.getMessage() for r in caplog.records if r.name == "pevl.tracking" and r.levelname == "WARNING"]
        assert len(warnings) == 1 and "training goes on" in warnings[0], warnings
        assert tracker.failed and tracker.dropped == 4  # the first failing call is not counted as dropped
        tracker.end("FINISHED")  # server still dead: says so, does not stall or raise
        assert "shows the run RUNNING" in caplog.records[-1].getMessage()
    with mlflow_server(state, port) as rec:  # same store: the run is still RUNNING there
        from mlflow.tracking import MlflowClient

        client = MlflowClient(rec.url)
        assert client.get_run(tracker.run_id).info.status == "RUNNING"
        tracker.end("FINISHED")  # the server is back: the run is closed
        assert client.get_run(tracker.run_id).info.status == "FINISHED"
        history = client.get_metric_history(tracker.run_id, "train/loss")
        assert [m.step for m in history] == [1]  # later metrics were dropped, not half-sent


def test_training_survives_the_server_dying_between_epochs(tmp_path, bounded_env, caplog):
    from pevl.stages.train import run_train
    from pevl.train.checkpoint import load_checkpoint

    state = tmp_path / "state"
    with mlflow_server(state) as rec:
        cfg = tiny_config(tmp_path, [f"tracking.uri={rec.url}", "train.epochs=3", "tracking.log_checkpoint=true"])
        write_fixture_shards(cfg, train_per_class=4, test_per_class=1)  # 4 steps per epoch
        last = paths.train_dir(cfg) / "last.pt"
        killer = threading.Thread(target=lambda: wait_for(last.is_file, 300, 0.05) and _kill(state, "mlflow"))
        killer.start()
        result = run_train(cfg)
        killer.join()
    assert load_checkpoint(Path(result.info["last"]))["epoch"] == 3
    assert result.info["mlflow_run_id"] and result.counts["epochs_run"] == 3
    messages = [r.getMessage() for r in caplog.records if r.name == "pevl.tracking" and r.levelname == "WARNING"]
    assert sum("training goes on" in m for m in messages) == 1, messages
    assert any("shows the run RUNNING" in m for m in messages), messages


def test_config_rejects_unknown_on_unreachable_mode(tmp_path):
    from schemas import ConfigError

    with pytest.raises(ConfigError, match="on_unreachable"):
        load_config(ROOT / "configs/demo.yaml", [f"work_dir={tmp_path}", "tracking.on_unreachable=retry"])


def test_tracker_without_client_counts_nothing():
    tracker = Tracker()
    tracker.log_metrics({"a": 1.0}, 1)
    tracker.end()
    assert not tracker.active and tracker.dropped == 0 and not tracker.failed


def test_a_server_that_is_not_mlflow_counts_as_unreachable():
    import http.server

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_error(404)

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        problem = server_problem(f"http://127.0.0.1:{httpd.server_port}")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert "HTTP 404" in problem and "not an MLflow tracking server" in problem
    assert server_problem("sqlite:////tmp/x.db") == ""  # no server to ask
