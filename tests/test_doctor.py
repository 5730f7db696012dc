"""`pevl doctor`: run for real on this machine, a port a test socket holds, a program PATH lacks, --json."""

import json
import os
import platform
import socket
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from pevl.services import doctor
from pevl.services import servers as services
from pevl.services.doctor import Check, Machine, check_ports, check_postgres, check_servers, run_checks

ROOT = Path(__file__).resolve().parents[1]


def test_doctor_json_finds_python_and_codecs_and_a_program_missing_from_path(tmp_path):
    (tmp_path / "bin").mkdir()  # a PATH without initdb or pg_ctl
    env = {**os.environ, "PATH": str(tmp_path / "bin"), "PEVL_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-m", "pevl.cli", "doctor", "--json", "--work-dir", str(tmp_path / "w")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["python"]["status"] == "ok" and platform.python_version() in checks["python"]["detail"]
    for codec in ("mp4v", "h264", "mjpeg"):
        assert checks[f"codec {codec}"]["status"] == "ok", checks[f"codec {codec}"]
    assert checks["torch"]["status"] == "ok" and checks["torch"]["detail"].startswith("torch ")
    assert checks["initdb"]["status"] == "missing" and checks["initdb"]["detail"] == "not on PATH"
    assert "postgresql" in checks["initdb"]["fix"] and not checks["initdb"]["required"]
    assert checks["disk"]["status"] in ("ok", "warn") and str(tmp_path) in checks["disk"]["detail"]
    assert checks["prefect server"]["status"] == "ok" and "not running" in checks["prefect server"]["detail"]
    assert report["ok"] is True and done.returncode == 0  # nothing required missing: PostgreSQL is optional


def test_a_program_missing_from_path_gets_the_install_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(doctor, "PG_DEBIAN", str(tmp_path / "no-postgresql"))
    lines = check_postgres(Machine())
    assert [(c.name, c.status) for c in lines] == [("initdb", "missing"), ("pg_ctl", "missing")]
    assert lines[0].fix.startswith("apt-get install postgresql")
    (tmp_path / "15" / "bin").mkdir(parents=True)  # Debian's place, off PATH
    (tmp_path / "15" / "bin" / "initdb").touch()
    monkeypatch.setattr(doctor, "PG_DEBIAN", str(tmp_path / "*" / "bin"))
    assert check_postgres(Machine())[0].fix == f"add {tmp_path / '15' / 'bin'} to PATH"


def test_a_port_held_by_a_test_socket_is_busy_with_its_fix(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        prefect, mlflow = check_ports(Machine(prefect_port=port, mlflow_port=services.free_port(), state_dir=tmp_path))
    assert prefect.status == "warn" and prefect.detail.startswith("busy: held by ")
    assert f"pid {os.getpid()}" in prefect.detail  # this test's process holds it
    assert "--prefect-port" in prefect.fix
    assert mlflow.status == "ok" and mlflow.detail == "free"


def test_a_port_held_by_our_server_is_ok_and_a_server_that_does_not_answer_is_a_warning(tmp_path):
    import psutil

    with socket.socket() as held:  # stands for a server `pevl up` started: a pid record names this process
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        health = f"http://127.0.0.1:{port}/health"
        record = services.Running("mlflow", os.getpid(), psutil.Process().create_time(), port,
                                  f"http://127.0.0.1:{port}", health, str(tmp_path / "mlflow.log"), ["mlflow"])
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "mlflow.json").write_text(json.dumps(asdict(record)))
        machine = Machine(prefect_port=services.free_port(), mlflow_port=port, state_dir=tmp_path)
        ports = {c.name: c for c in check_ports(machine)}
        servers = {c.name: c for c in check_servers(machine)}
    assert ports[f"port {port} (mlflow)"].status == "ok"
    assert ports[f"port {port} (mlflow)"].detail == f"held by pevl's mlflow server (pid {os.getpid()})"
    assert servers["mlflow server"].status == "warn" and health in servers["mlflow server"].detail  # no HTTP answer
    assert "pevl down && pevl up" in servers["mlflow server"].fix
    assert servers["prefect server"].status == "ok" and "not running" in servers["prefect server"].detail


def test_a_check_that_raises_is_a_warn_line_and_a_required_missing_item_fails_the_command(monkeypatch, capsys):
    from pevl.cli import main

    def check_broken(machine):
        raise OSError("no such device")

    def check_needed(machine):
        return [Check("needed", "missing", "not here", "install it", required=True)]

    lines = run_checks(Machine(), (check_broken,))
    assert [(c.name, c.status) for c in lines] == [("broken", "warn")] and "OSError: no such device" in lines[0].detail
    monkeypatch.setattr(doctor, "CHECKS", (check_broken, check_needed))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("warn    broken") and out[1].startswith("missing needed")
    assert out[1].endswith("not here  -> fix: install it")
    monkeypatch.setattr(doctor, "CHECKS", (check_broken,))
    assert main(["doctor", "--json"]) == 0 and json.loads(capsys.readouterr().out)["ok"] is True
