"""Real local servers for tests: a Prefect server, an MLflow server and the serving process.

Each helper starts the real program on a free 127.0.0.1 port with its state under a temp dir
(via `pevl.services.servers`) and stops it in `finally`, failures included. Prefect's in-process log and
event workers are drained before the Prefect server stops (otherwise they retry for ~65 s). Each MLflow
server starts on a copy of the run's migrated empty database (tests/server_stores.py).

Use as context managers, or through the module-scoped fixtures `prefect_api` / `mlflow_uri`
(import them into a test module: `from servers import prefect_api, mlflow_uri`).
"""

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pevl.services import servers as services
from server_stores import seed_server_databases

ROOT = Path(__file__).resolve().parents[1]


def drain_prefect_clients(timeout: float = 5.0) -> None:
    """Flush this process's Prefect log and event workers (no-op when Prefect was never used)."""
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=timeout)
        except Exception:  # noqa: BLE001 - draining is best effort on the way out
            pass


@contextmanager
def prefect_server(state: Path, port: int | None = None, timeout: float = 120.0) -> Iterator[services.Running]:
    """A real `prefect server start` (no UI, SQLite in state) on a free port; stopped on exit."""
    port = port or services.free_port()
    try:
        rec, _ = services.start(services.prefect_service(state, port, ui=False), state, timeout)
        yield rec
    finally:
        drain_prefect_clients()
        services.stop(state, "prefect")


@contextmanager
def mlflow_server(state: Path, port: int | None = None, timeout: float = 120.0) -> Iterator[services.Running]:
    """A real `mlflow server` (SQLite, local artifacts, 1 worker) on a free port; stopped on exit."""
    port = port or services.free_port()
    try:
        seed_server_databases(state)
        rec, _ = services.start(services.mlflow_service(state, port), state, timeout)
        yield rec
    finally:
        services.stop(state, "mlflow")


@contextmanager
def both_servers(state: Path, timeout: float = 180.0) -> Iterator[tuple[services.Running, services.Running]]:
    """Prefect (no UI) and MLflow started side by side on free ports; both stopped on exit."""
    wanted = [services.prefect_service(state, services.free_port(), ui=False),
              services.mlflow_service(state, services.free_port())]
    try:
        seed_server_databases(state)
        started = services.start_all(wanted, state, timeout)
        yield started["prefect"][0], started["mlflow"][0]
    finally:
        drain_prefect_clients()
        services.stop(state, "prefect")
        services.stop(state, "mlflow")


def client_env(prefect: services.Running | None, mlflow: services.Running | None, state: Path) -> dict[str, str]:
    """os.environ plus the URLs of the given servers, for subprocesses (CLI, serve)."""
    from flows.crash_detection import HEARTBEAT_S
    from pevl.services.security import read_auth_string

    env = {**os.environ, **services.QUIET_ENV, "PREFECT_HOME": str(state / "prefect"),
           "PREFECT_RUNNER_POLL_FREQUENCY": "1", "PREFECT_LOGGING_EXTRA_LOGGERS": "pevl,flows,pose_extraction",
           "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_S)}
    if read_auth_string(state):
        env["PREFECT_API_AUTH_STRING"] = read_auth_string(state)
    if prefect is not None:
        env["PREFECT_API_URL"] = services.prefect_api_url(prefect.port)
    if mlflow is not None:
        env["MLFLOW_TRACKING_URI"] = mlflow.url
    return env


@contextmanager
def serving(state: Path, env: dict[str, str], args: list[str], names: list[str],
            timeout: float = 120.0) -> Iterator[services.Running]:
    """`pevl serve ARGS` as a real process; yields once the deployment `names` are registered; stopped on exit."""
    command = [services.console_script("pevl"), "serve", "--state-dir", str(state), *args]
    service = services.Service("serve", command, {k: v for k, v in env.items() if k not in os.environ
                                                  or os.environ[k] != v}, cwd=str(ROOT))
    api, auth = env["PREFECT_API_URL"], env.get("PREFECT_API_AUTH_STRING")
    try:
        rec, _ = services.start(service, state, timeout,
                                ready=lambda: set(names) <= set(services.deployment_names(api, auth=auth)))
        yield rec
    finally:
        services.stop(state, "serve")


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory) -> Iterator[str]:
    """The API URL of a real Prefect server for this test module."""
    state = tmp_path_factory.mktemp("prefect-state")
    with prefect_server(state) as rec:
        yield services.prefect_api_url(rec.port)


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory) -> Iterator[str]:
    """The tracking URL of a real MLflow server for this test module."""
    state = tmp_path_factory.mktemp("mlflow-state")
    with mlflow_server(state) as rec:
        yield rec.url


def wait_for(predicate, timeout: float, every: float = 0.5) -> bool:
    """Poll predicate until true or timeout; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())
