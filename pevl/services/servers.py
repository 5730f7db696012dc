"""Local services: a Prefect server and an MLflow server on 127.0.0.1, plus the serving process.

Each service is a child process started in its own session (so stopping it stops its whole
process group), with a pid record and a log under the project state dir:
`<state>/run/<name>.json` (pid, start time, port, url, command) and `<state>/logs/<name>.log`.
Prefect keeps its SQLite database in `<state>/prefect` (PREFECT_HOME); MLflow keeps
`<state>/mlflow/mlflow.db` and its artifacts in `<state>/mlflow/artifacts`; either database can be
PostgreSQL instead (pevl.services.databases: the URL goes in the server's environment, a redacted copy in
its pid record). Starting a service
that is already up and healthy does nothing and says so. The Prefect server starts with CSRF
protection on, CORS limited to its own UI and, beyond loopback, an auth string (pevl.services.security).
"""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from pevl.services import databases, security

log = logging.getLogger("pevl.services")

HOST = "127.0.0.1"
PREFECT_PORT = 4200
MLFLOW_PORT = 5000
QUIET_ENV = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "MLFLOW_DISABLE_TELEMETRY": "true",
             "DO_NOT_TRACK": "1"}


@dataclass
class Service:
    """How to start one long-running process and how to tell it is ready."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    port: int | None = None
    url: str = ""  # base URL users open (UI), empty for the serving process
    health_url: str = ""  # GET must answer 200; empty = alive is enough
    cwd: str | None = None
    database: str = ""  # redacted database URL, for the pid record and messages


@dataclass
class Running:
    """The pid record of a started service."""

    name: str
    pid: int
    create_time: float
    port: int | None
    url: str
    health_url: str
    log: str
    command: list[str]
    auth: bool = False  # the server requires the auth string in <state>/prefect-auth
    database: str = ""  # the server's database, password redacted ("" = SQLite in the state dir)


def resolve_state_dir(state: str | Path | None = None) -> Path:
    """The state dir: the argument, else $PEVL_STATE_DIR, else pevl.paths.state_dir()."""
    from pevl.paths import state_dir

    chosen = state or os.environ.get("PEVL_STATE_DIR")
    return Path(chosen).expanduser().resolve() if chosen else state_dir()


def console_script(name: str) -> str:
    """A console script of this interpreter's environment (prefect, mlflow, pevl)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def prefect_api_url(port: int = PREFECT_PORT, host: str = HOST) -> str:
    """The Prefect API URL clients use."""
    return f"http://{host}:{port}/api"


def mlflow_url(port: int = MLFLOW_PORT, host: str = HOST) -> str:
    """The MLflow tracking URL clients use."""
    return f"http://{host}:{port}"


def client_host(host: str) -> str:
    """The address local clients use for a server bound to host (loopback for a wildcard bind)."""
    return HOST if host in ("0.0.0.0", "::") else host


def prefect_service(state: Path, port: int = PREFECT_PORT, ui: bool = True, host: str = HOST,
                    auth: str | None = None, db: str | None = None) -> Service:
    """A Prefect server on host:port (SQLite under <state>/prefect, or PostgreSQL db), CSRF on,
    CORS to its own UI, auth if given."""
    command = [console_script("prefect"), "server", "start", "--host", host, "--port", str(port)]
    if not ui:
        command.append("--no-ui")
    env = {**QUIET_ENV, "PREFECT_HOME": str(state / "prefect"), "PREFECT_UI_ENABLED": str(ui).lower(),
           # the UI's API URL is built from this setting, not from --port (else a UI on another port calls :4200)
           "PREFECT_SERVER_API_PORT": str(port), **security.prefect_server_env(host, port, auth)}
    if db:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = databases.prefect_url(db)
    base = f"http://{client_host(host)}:{port}"
    return Service("prefect", command, env, port, base, f"{base}/api/health",
                   database=databases.redact(databases.prefect_url(db)) if db else "")


def mlflow_service(state: Path, port: int = MLFLOW_PORT, host: str = HOST, db: str | None = None) -> Service:
    """An MLflow server on host:port: SQLite (or PostgreSQL db) backend, local artifacts, one worker,
    its Host check kept."""
    root = state / "mlflow"
    command = [console_script("mlflow"), "server", "--host", host, "--port", str(port), "--workers", "1"]
    env = {**QUIET_ENV, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    if db:  # in the environment (mlflow reads it there), so the password stays off `ps` and the record
        env["MLFLOW_BACKEND_STORE_URI"] = databases.mlflow_url(db)
    else:
        command += ["--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"]
    command += ["--artifacts-destination", str(root / "artifacts")]
    if not security.is_loopback(host):  # MLflow's default allows loopback names only
        command += ["--allowed-hosts", ",".join(security.mlflow_allowed_hosts(host, port))]
    url = mlflow_url(port, client_host(host))
    return Service("mlflow", command, env, port, url, f"{url}/health",
                   database=databases.redact(databases.mlflow_url(db)) if db else "")


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    """True when GET url answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def deployments(api_url: str, timeout: float = 5.0, auth: str | None = None) -> list[dict]:
    """The deployments registered on a Prefect server, as the REST API returns them ([] if none answers).

    auth: the server's auth string (default $PREFECT_API_AUTH_STRING); a CSRF token is fetched per call.
    """
    try:
        return list(security.api_post(api_url, "deployments/filter", {},
                                      auth or os.environ.get("PREFECT_API_AUTH_STRING"), timeout))
    except (urllib.error.URLError, OSError, ValueError, TypeError, KeyError):
        return []


def deployment_names(api_url: str, timeout: float = 5.0, auth: str | None = None) -> list[str]:
    """Names of the deployments registered on a Prefect server ([] when it does not answer)."""
    return [d.get("name", "") for d in deployments(api_url, timeout, auth)]


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when nothing listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    """A port on host that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _record_path(state: Path, name: str) -> Path:
    return state / "run" / f"{name}.json"


def read_record(state: Path, name: str) -> Running | None:
    """The pid record of a service, or None."""
    path = _record_path(state, name)
    if not path.exists():
        return None
    try:
        return Running(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        log.warning("ignoring unreadable pid record %s", path)
        return None


def is_alive(rec: Running) -> bool:
    """True when the recorded process still runs (same pid and start time, not a zombie)."""
    try:
        proc = psutil.Process(rec.pid)
        return abs(proc.create_time() - rec.create_time) < 1.0 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def running(state: Path, name: str) -> Running | None:
    """The record of a service whose process is alive, else None (a stale record is removed)."""
    rec = read_record(state, name)
    if rec is None:
        return None
    if is_alive(rec):
        return rec
    _record_path(state, name).unlink(missing_ok=True)
    return None


def _spawn(service: Service, state: Path) -> tuple[subprocess.Popen, Running]:
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{service.name}.log"
    env = {**os.environ, **service.env}
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(service.command, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=service.cwd,
                                start_new_session=True)
    rec = Running(service.name, proc.pid, psutil.Process(proc.pid).create_time(), service.port,
                  service.url, service.health_url, str(log_path), service.command,
                  "PREFECT_SERVER_API_AUTH_STRING" in service.env, service.database)
    path = _record_path(state, service.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(rec), indent=1))
    return proc, rec


def _log_tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_ready(proc: subprocess.Popen, rec: Running, timeout: float,
               ready: Callable[[], bool] | None = None) -> None:
    """Poll until the service is healthy; raise RuntimeError with its log tail if it dies or times out."""
    check = ready or (lambda: not rec.health_url or is_healthy(rec.health_url))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{rec.name} exited with code {proc.returncode} while starting; "
                               f"log {rec.log}:\n{_log_tail(rec.log)}")
        if check():
            return
        time.sleep(0.5)
    raise RuntimeError(f"{rec.name} not healthy after {timeout:.0f} s; log {rec.log}:\n{_log_tail(rec.log)}")


def start_all(services: list[Service], state: Path, timeout: float = 120.0) -> dict[str, tuple[Running, bool]]:
    """Start the services that are not running yet, all at once, then wait until each is ready.

    Returns {name: (record, started_now)}; on any failure every service started here is stopped.
    """
    out: dict[str, tuple[Running, bool]] = {}
    procs: dict[str, subprocess.Popen] = {}
    try:
        for service in services:
            rec = running(state, service.name)
            if rec is not None:
                out[service.name] = (rec, False)
                continue
            if service.port is not None and not port_is_free(service.port):
                raise RuntimeError(f"{service.name}: port {HOST}:{service.port} is already in use by another "
                                   "process; choose another port or stop that process")
            procs[service.name], rec = _spawn(service, state)
            out[service.name] = (rec, True)
            log.info("starting %s (pid %d), log %s", service.name, rec.pid, rec.log)
        for name, proc in procs.items():
            wait_ready(proc, out[name][0], timeout)
    except BaseException:
        for name in procs:
            stop(state, name)
        raise
    return out


def start(service: Service, state: Path, timeout: float = 120.0,
          ready: Callable[[], bool] | None = None) -> tuple[Running, bool]:
    """Start a service unless it already runs; wait until ready. Returns (record, started_now)."""
    if ready is None:
        return start_all([service], state, timeout)[service.name]
    rec = running(state, service.name)
    if rec is not None:
        return rec, False
    proc, rec = _spawn(service, state)
    log.info("starting %s (pid %d), log %s", service.name, rec.pid, rec.log)
    try:
        wait_ready(proc, rec, timeout, ready)
    except BaseException:
        stop(state, service.name)
        raise
    return rec, True


def stop(state: Path, name: str, timeout: float = 30.0) -> bool:
    """Stop a started service (SIGTERM to its process group, SIGKILL after timeout). True if it ran.

    Returns once the service and every process it had started are gone (a child that moved to its
    own session, e.g. a worker's flow run, is killed after the timeout if still running).
    """
    rec = running(state, name)
    if rec is None:
        _record_path(state, name).unlink(missing_ok=True)
        return False
    procs = _tree(rec.pid)
    _signal_group(rec.pid, signal.SIGTERM)
    if not _wait_gone(rec, procs, timeout):
        log.warning("%s did not stop after SIGTERM in %.0f s; sending SIGKILL", name, timeout)
        _signal_group(rec.pid, signal.SIGKILL)
        for proc in procs:
            try:
                proc.kill()  # psutil checks the pid still names the same process
            except psutil.Error:
                pass
        _wait_gone(rec, procs, 10.0)
    _reap(rec.pid)
    _record_path(state, name).unlink(missing_ok=True)
    return True


def _tree(pid: int) -> list:
    """The process pid and all its descendants (psutil.Process), [] when it is gone."""
    try:
        leader = psutil.Process(pid)
        return [leader, *leader.children(recursive=True)]
    except psutil.Error:
        return []


def _wait_gone(rec: Running, procs: list, timeout: float) -> bool:
    """Wait until the service and procs have all exited (zombies count as exited); True if they did."""
    deadline = time.monotonic() + timeout
    while is_alive(rec) or any(_runs(p) for p in procs):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def _runs(proc) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal_group(pid: int, sig: int) -> None:
    # The service leads its own session (start_new_session), so its group id is its pid.
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def up(state: Path, prefect_port: int = PREFECT_PORT, mlflow_port: int = MLFLOW_PORT,
       ui: bool = True, timeout: float = 120.0, host: str = HOST,
       auth: bool = False, prefect_db: str | None = None,
       mlflow_db: str | None = None) -> dict[str, tuple[Running, bool]]:
    """Start the Prefect and MLflow servers side by side (idempotent); {name: (record, started_now)}.

    Beyond loopback (or with auth=True) Prefect requires the auth string in <state>/prefect-auth.
    prefect_db / mlflow_db: PostgreSQL URLs (pevl.services.databases) instead of SQLite in the state dir.
    """
    state.mkdir(parents=True, exist_ok=True)
    secret = security.ensure_auth_string(state) if auth or not security.is_loopback(host) else None
    return start_all([prefect_service(state, prefect_port, ui, host, secret, prefect_db),
                      mlflow_service(state, mlflow_port, host, mlflow_db)], state, timeout)


SERVICE_NAMES = ("serve", "worker", "prefect", "mlflow")  # stop order: clients before servers


def down(state: Path) -> list[str]:
    """Stop the serving process, the work-pool worker and both servers; returns the names that were running."""
    return [name for name in SERVICE_NAMES if stop(state, name)]
