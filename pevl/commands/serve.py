"""`pevl serve [CONFIG]`: serve the deployments pevl/full-pipeline and pevl/ablation-grid."""

import argparse
import logging
import os
import signal
from pathlib import Path

from pevl.commands.up import add_state_arg, service_errors
from pevl.console import say

log = logging.getLogger("pevl.serve")


def add_parser(subparsers) -> None:
    """Register `serve`."""
    p = subparsers.add_parser("serve", help="serve the Prefect deployments (runs flow runs until stopped)")
    p.add_argument("config", nargs="?", default=None, help="default parameters (default: configs/demo.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field of the default config (repeatable)")
    add_state_arg(p)
    p.add_argument("--background", action="store_true",
                   help="start in the background (log in the state dir), return once deployments are registered")
    p.add_argument("--limit", type=int, default=None, help="flow runs at once (default: no limit)")
    p.set_defaults(func=run)


def service_env(state: Path) -> dict[str, str]:
    """Env for the serving process: the servers `pevl up` started, unless the environment names others.

    Flow runs send a heartbeat every 30 s (flows/crash_detection.py marks silent ones CRASHED), and
    the Prefect auth string of <state>/prefect-auth goes along when there is one.
    """
    from flows.crash_detection import HEARTBEAT_S
    from pevl.services import security
    from pevl.services import servers as services

    prefect, mlflow = services.running(state, "prefect"), services.running(state, "mlflow")
    env = {**services.QUIET_ENV, "PREFECT_RUNNER_POLL_FREQUENCY": "1",
           "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_S),
           # the stages' own log lines go to the flow run's logs in the UI too
           "PREFECT_LOGGING_EXTRA_LOGGERS": "pevl,flows,pose_extraction",
           "PREFECT_API_URL": services.prefect_api_url(prefect.port if prefect else services.PREFECT_PORT),
           "MLFLOW_TRACKING_URI": services.mlflow_url(mlflow.port if mlflow else services.MLFLOW_PORT),
           "PREFECT_HOME": str(state / "prefect")}
    auth = security.read_auth_string(state)
    if auth:
        env["PREFECT_API_AUTH_STRING"] = auth
    for key in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "PREFECT_HOME", "PREFECT_API_AUTH_STRING"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    return env


def check_server(api_url: str) -> None:
    """Raise RuntimeError saying to run `pevl up` when the Prefect API does not answer."""
    from pevl.services import servers as services

    if not services.is_healthy(f"{api_url}/health"):
        raise RuntimeError(f"no Prefect server answers at {api_url}: start one with `pevl up`")


def start_background(args: argparse.Namespace, state: Path, env: dict[str, str], timeout: float = 120.0):
    """`pevl serve` as a background service; returns (record, started_now) once deployments exist."""
    from flows.deployments import DEPLOYMENTS
    from pevl.services import servers as services

    command = [services.console_script("pevl"), "serve", "--state-dir", str(state)]
    command += [args.config] if args.config else []
    for o in args.overrides:
        command += ["--set", o]
    command += ["--limit", str(args.limit)] if args.limit else []
    service = services.Service("serve", command, env, cwd=str(Path.cwd()))
    api, auth = env["PREFECT_API_URL"], env.get("PREFECT_API_AUTH_STRING")
    ready = lambda: set(DEPLOYMENTS) <= set(services.deployment_names(api, auth=auth))  # noqa: E731
    return services.start(service, state, timeout, ready=ready)


def _stop_on_sigterm(signum, frame):  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt


@service_errors
def run(args: argparse.Namespace) -> int:
    """Serve in the foreground (until Ctrl-C / SIGTERM), or start in the background."""
    from pevl.services import servers as services

    state = services.resolve_state_dir(args.state_dir)
    env = service_env(state)
    check_server(env["PREFECT_API_URL"])
    if args.background:
        rec, now = start_background(args, state, env)
        say(f"serve: {'started' if now else 'already running'} (pid {rec.pid}, log {rec.log})")
        return 0
    os.environ.update(env)
    from flows.crash_detection import ensure_crash_automation
    from flows.deployments import serve_deployments

    ensure_crash_automation()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    log.info("serving pevl/full-pipeline and pevl/ablation-grid on %s", env["PREFECT_API_URL"])
    try:
        serve_deployments(args.config, args.overrides, args.limit)
    except KeyboardInterrupt:
        log.info("serve: stopped")
    return 0
