"""`pevl up` / `pevl down`: start and stop the local Prefect and MLflow servers."""

import argparse
import functools
import logging

from pevl.console import say

log = logging.getLogger("pevl.services")


def service_errors(fn):
    """Turn a service error (port busy, not healthy in time, no server) into one log line and exit 1."""

    @functools.wraps(fn)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except RuntimeError as e:
            log.error("%s", e)
            return 1

    return wrapper


def add_state_arg(parser: argparse.ArgumentParser) -> None:
    """--state-dir, shared by up, down, serve and demo."""
    parser.add_argument("--state-dir", default=None,
                        help="where pids, logs and the servers' databases live "
                             "(default: $PEVL_STATE_DIR or ./.pevl)")


def add_port_args(parser: argparse.ArgumentParser) -> None:
    """--prefect-port and --mlflow-port."""
    from pevl.services.servers import MLFLOW_PORT, PREFECT_PORT

    parser.add_argument("--prefect-port", type=int, default=PREFECT_PORT, help="Prefect server port")
    parser.add_argument("--mlflow-port", type=int, default=MLFLOW_PORT, help="MLflow server port")


def add_parser(subparsers) -> None:
    """Register `up` and `down`."""
    p = subparsers.add_parser("up", help="start local Prefect + MLflow servers on 127.0.0.1")
    add_state_arg(p)
    add_port_args(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address both servers bind (beyond loopback Prefect requires an auth string)")
    p.add_argument("--auth", action="store_true",
                   help="require the Prefect auth string on loopback too (closes DNS rebinding; the UI asks for it)")
    p.add_argument("--no-ui", action="store_true", help="start the Prefect server without its UI")
    p.add_argument("--prefect-db", default=None, metavar="URL",
                   help="Prefect's database: postgresql://user:password@host:5432/db (default: $PEVL_PREFECT_DB, "
                        "else SQLite in the state dir)")
    p.add_argument("--mlflow-db", default=None, metavar="URL",
                   help="MLflow's backend store: postgresql://... "
                        "(default: $PEVL_MLFLOW_DB, else SQLite in the state dir)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for health")
    p.set_defaults(func=run)
    d = subparsers.add_parser("down", help="stop the serving process, the worker and the local servers")
    add_state_arg(d)
    d.set_defaults(func=run_down)


def database_urls(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(Prefect's, MLflow's) PostgreSQL URL from the flags or $PEVL_PREFECT_DB / $PEVL_MLFLOW_DB; None = SQLite."""
    import os

    from pevl.services import databases

    urls = (args.prefect_db or os.environ.get(databases.PREFECT_DB_ENV) or None,
            args.mlflow_db or os.environ.get(databases.MLFLOW_DB_ENV) or None)
    for url in urls:
        if url:
            try:
                databases.with_driver(url, None)
            except ValueError as e:
                raise RuntimeError(str(e)) from None
    return urls


@service_errors
def run(args: argparse.Namespace) -> int:
    """Start both servers (idempotent) and print where they are."""
    from pevl.services import servers as services

    from pevl.services import security

    state = services.resolve_state_dir(args.state_dir)
    prefect_db, mlflow_db = database_urls(args)
    started = services.up(state, args.prefect_port, args.mlflow_port, not args.no_ui, args.timeout,
                          args.host, args.auth, prefect_db, mlflow_db)
    for name, (rec, now) in started.items():
        how = "started" if now else "already up"
        on = f", database {rec.database}" if rec.database else ""
        say(f"{name}: {how} at {rec.url} (pid {rec.pid}, log {rec.log}{on})")
    prefect_port = started["prefect"][0].port or args.prefect_port
    mlflow_port = started["mlflow"][0].port or args.mlflow_port
    client = services.client_host(args.host)
    say(f"clients: export PREFECT_API_URL={services.prefect_api_url(prefect_port, client)} "
        f"MLFLOW_TRACKING_URI={services.mlflow_url(mlflow_port, client)}")
    if started["prefect"][0].auth:
        path = security.auth_path(state)
        say(f"Prefect requires its auth string (user:password in {path}, mode 0600; the UI asks for it): "
            f'export PREFECT_API_AUTH_STRING="$(cat {path})"')
    return 0


def run_down(args: argparse.Namespace) -> int:
    """Stop whatever `pevl up` / `pevl serve --background` started."""
    from pevl.services import servers as services

    state = services.resolve_state_dir(args.state_dir)
    stopped = services.down(state)
    say(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0
