"""`pevl deploy --pool NAME` / `pevl worker --pool NAME`: the work-pool way to run the deployments.

Next to `pevl serve` (one process that registers and runs the deployments), a work pool splits
the two: `pevl deploy` registers pevl/full-pipeline and pevl/ablation-grid for the pool, and
`prefect worker start --pool NAME` (what `pevl worker` runs) starts each flow run as the pool's
type says: a process here, a Kubernetes job or a container on a cluster.
"""

import argparse
import logging
import os
import uuid
from pathlib import Path

from pevl.commands.up import add_state_arg, service_errors
from pevl.console import say

log = logging.getLogger("pevl.deploy")
WORKER_QUERY_S = "1"  # how often the worker asks for scheduled runs (Prefect's default, 10 s, delays every run)


def add_parser(subparsers) -> None:
    """Register `deploy` and `worker`."""
    p = subparsers.add_parser("deploy", help="register the deployments for a work pool (run by its worker)")
    p.add_argument("config", nargs="?", default=None, help="default parameters (default: configs/demo.yaml)")
    p.add_argument("--pool", required=True,
                   help="work pool name (create it: prefect work-pool create --type process NAME)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field of the default config (repeatable)")
    p.add_argument("--image", default=None, help="image of a docker / kubernetes pool's jobs (not for process pools)")
    add_state_arg(p)
    p.set_defaults(func=run)
    w = subparsers.add_parser("worker", help="run `prefect worker start --pool NAME` against `pevl up`'s servers")
    w.add_argument("--pool", required=True, help="work pool name")
    w.add_argument("--limit", type=int, default=None, help="flow runs at once (default: no limit)")
    w.add_argument("--background", action="store_true",
                   help="start in the background (log in the state dir), return once it polls the pool")
    add_state_arg(w)
    w.set_defaults(func=run_worker)


def client_env(state: Path) -> dict[str, str]:
    """The serving process's env (servers, auth string, heartbeats) plus the worker's poll interval."""
    from pevl.commands.serve import check_server, service_env

    env = {**service_env(state), "PREFECT_WORKER_QUERY_SECONDS": WORKER_QUERY_S}
    check_server(env["PREFECT_API_URL"])
    return env


def check_pool(pool: str) -> str:
    """The pool's type; RuntimeError with the command that creates it when it does not exist."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            return client.read_work_pool(pool).type
    except ObjectNotFound:
        raise RuntimeError(f"work pool {pool!r} does not exist: create it with "
                           f"`prefect work-pool create --type process {pool}`") from None


@service_errors
def run(args: argparse.Namespace) -> int:
    """Register both deployments for the pool (idempotent: a second deploy updates them)."""
    from pevl.services import servers as services

    state = services.resolve_state_dir(args.state_dir)
    os.environ.update(client_env(state))
    from flows.crash_detection import ensure_crash_automation
    from flows.deployments import DEPLOYMENTS, deploy_to_pool

    kind = check_pool(args.pool)
    ensure_crash_automation()
    deploy_to_pool(args.pool, args.config, args.overrides, args.image)
    say(f"deployed {', '.join('pevl/' + d for d in DEPLOYMENTS)} to the {kind} pool {args.pool!r}; "
        f"run them with a worker: pevl worker --pool {args.pool} (or prefect worker start --pool {args.pool})")
    return 0


def worker_command(pool: str, name: str, limit: int | None) -> list[str]:
    """`prefect worker start --pool POOL --name NAME [--limit N]`."""
    from pevl.services import servers as services

    command = [services.console_script("prefect"), "worker", "start", "--pool", pool, "--name", name]
    return command + (["--limit", str(limit)] if limit else [])


def worker_online(api_url: str, pool: str, name: str, auth: str | None) -> bool:
    """True once the worker `name` has sent the pool its first heartbeat."""
    from pevl.services import security

    try:
        workers = security.api_post(api_url, f"work_pools/{pool}/workers/filter", {}, auth, timeout=5)
    except (OSError, ValueError):
        return False
    return any(w.get("name") == name and w.get("status") == "ONLINE" for w in workers)


def start_worker(state: Path, env: dict[str, str], pool: str, limit: int | None = None,
                 timeout: float = 120.0, cwd: str | None = None):
    """`prefect worker start` as the background service `worker`; (record, started_now) once it is online."""
    from pevl.services import servers as services

    name = f"pevl-worker-{uuid.uuid4().hex[:8]}"
    service = services.Service("worker", worker_command(pool, name, limit), env, cwd=cwd or str(Path.cwd()))
    api, auth = env["PREFECT_API_URL"], env.get("PREFECT_API_AUTH_STRING")
    return services.start(service, state, timeout, ready=lambda: worker_online(api, pool, name, auth))


@service_errors
def run_worker(args: argparse.Namespace) -> int:
    """Run the worker in the foreground (it replaces this process), or start it in the background."""
    from pevl.services import servers as services

    state = services.resolve_state_dir(args.state_dir)
    env = client_env(state)
    if args.background:
        rec, now = start_worker(state, env, args.pool, args.limit)
        say(f"worker: {'started' if now else 'already running'} on pool {args.pool!r} (pid {rec.pid}, log {rec.log})")
        return 0
    command = worker_command(args.pool, f"pevl-worker-{uuid.uuid4().hex[:8]}", args.limit)
    log.info("starting %s", " ".join(command))
    os.execvpe(command[0], command, {**os.environ, **env})
