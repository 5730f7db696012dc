"""`pevl up` / `pevl down` and the process management under them (pevl.services.servers)."""

import socket
import sys
import time

import psutil
import pytest

from pevl.cli import main
from pevl.services import servers as services


def _alive(pid: int) -> bool:
    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


def test_up_is_idempotent_and_down_stops_both_servers(tmp_path, capsys):
    state = tmp_path / "state"
    prefect_port, mlflow_port = services.free_port(), services.free_port()
    args = ["--state-dir", str(state), "--prefect-port", str(prefect_port), "--mlflow-port", str(mlflow_port)]
    try:
        assert main(["up", *args, "--no-ui"]) == 0
        out = capsys.readouterr().out
        assert f"prefect: started at http://127.0.0.1:{prefect_port}" in out
        assert f"mlflow: started at http://127.0.0.1:{mlflow_port}" in out
        assert services.is_healthy(f"http://127.0.0.1:{prefect_port}/api/health")
        assert services.is_healthy(f"http://127.0.0.1:{mlflow_port}/health")
        pids = {n: services.running(state, n).pid for n in ("prefect", "mlflow")}
        assert (state / "prefect" / "prefect.db").exists() and (state / "mlflow" / "mlflow.db").exists()
        assert (state / "logs" / "prefect.log").exists() and (state / "logs" / "mlflow.log").exists()

        assert main(["up", *args, "--no-ui"]) == 0
        out = capsys.readouterr().out
        assert "prefect: already up" in out and "mlflow: already up" in out
        assert {n: services.running(state, n).pid for n in ("prefect", "mlflow")} == pids
    finally:
        assert main(["down", "--state-dir", str(state)]) == 0
    out = capsys.readouterr().out
    assert "stopped: prefect, mlflow" in out
    assert not any(_alive(p) for p in pids.values())
    assert services.port_is_free(prefect_port) and services.port_is_free(mlflow_port)
    assert main(["down", "--state-dir", str(state)]) == 0
    assert "nothing was running" in capsys.readouterr().out


def test_servers_bind_localhost_with_telemetry_off(tmp_path):
    prefect = services.prefect_service(tmp_path, 4211)
    mlflow = services.mlflow_service(tmp_path, 5011)
    assert prefect.command[prefect.command.index("--host") + 1] == "127.0.0.1"
    assert mlflow.command[mlflow.command.index("--host") + 1] == "127.0.0.1"
    assert mlflow.command[mlflow.command.index("--workers") + 1] == "1"
    assert mlflow.env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}" in mlflow.command
    assert prefect.env["PREFECT_HOME"] == str(tmp_path / "prefect")
    for service in (prefect, mlflow):
        assert service.env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
        assert service.env["MLFLOW_DISABLE_TELEMETRY"] == "true"


def test_busy_port_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"port 127.0.0.1:{port} is already in use"):
            services.start(services.prefect_service(tmp_path, port), tmp_path)
    assert services.read_record(tmp_path, "prefect") is None


def test_a_service_that_dies_while_starting_reports_its_log(tmp_path):
    code = "import sys; print('bad config: no database'); sys.exit(3)"
    service = services.Service("broken", [sys.executable, "-c", code], health_url="http://127.0.0.1:9/never")
    with pytest.raises(RuntimeError, match="exited with code 3") as e:
        services.start(service, tmp_path, timeout=30)
    assert "bad config: no database" in str(e.value)
    assert services.read_record(tmp_path, "broken") is None


def test_stop_ends_the_whole_process_group(tmp_path):
    # The service forks a child; stopping the service must end the child too.
    service = services.Service("sleeper", ["bash", "-c", "sleep 300 & sleep 300"])
    rec, started = services.start(service, tmp_path, timeout=30)
    assert started
    children = []
    for _ in range(300):  # bash forks its first child a moment after it starts (slow on a loaded machine)
        children = psutil.Process(rec.pid).children(recursive=True)
        if children:
            break
        time.sleep(0.1)
    assert children
    assert services.start(service, tmp_path)[1] is False  # already running: not started again
    assert services.stop(tmp_path, "sleeper", timeout=10)
    assert not _alive(rec.pid) and not any(_alive(c.pid) for c in children)
    assert services.stop(tmp_path, "sleeper") is False


def test_stale_pid_record_is_dropped(tmp_path):
    service = services.Service("short", [sys.executable, "-c", "pass"])
    proc, rec = services._spawn(service, tmp_path)
    proc.wait()
    assert services.read_record(tmp_path, "short") is not None
    assert services.running(tmp_path, "short") is None
    assert services.read_record(tmp_path, "short") is None


def test_serve_without_a_server_says_to_run_pevl_up(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{services.free_port()}/api")
    assert main(["serve", "--state-dir", str(tmp_path)]) == 1
    assert "start one with `pevl up`" in caplog.text
    assert services.read_record(tmp_path, "serve") is None
