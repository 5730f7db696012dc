"""The cluster way, run for real: PostgreSQL-backed servers, a `process` work pool and its worker.

One stack for the module: a real PostgreSQL server (tests/pg.py), `pevl up` with both servers on
it (URLs from $PEVL_PREFECT_DB / $PEVL_MLFLOW_DB), `prefect work-pool create --type process`,
`pevl deploy --pool`, `pevl worker --background` (a real `prefect worker start`), then
`prefect deployment run pevl/full-pipeline --watch` on a tiny SynthDive, executed by the worker.
No `pevl serve` runs. Everything is stopped in the fixture's `finally`, failures included, and
the teardown checks that no process is left.
"""

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from pevl.services import servers as services
from pevl.commands.demo import UUID
from pg import Postgres, postgres_server, query
from servers import ROOT, client_env, drain_prefect_clients
from test_flow_e2e import DATA_STAGES, write_tiny_config

pytestmark = pytest.mark.slow
POOL = "pevl-test-pool"
STAGES = [*DATA_STAGES, "train", "evaluate"]


@dataclass
class Stack:
    tmp: Path
    state: Path
    env: dict[str, str]
    pg: Postgres
    up_output: str


def cli(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    """A console script of this venv (pevl, prefect) as a subprocess, output captured."""
    return subprocess.run([services.console_script(args[0]), *args[1:]], env=env, cwd=str(ROOT),
                          capture_output=True, text=True, timeout=timeout)


def _alive(pid: int) -> bool:
    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pool")
    state = tmp / "state"
    config = write_tiny_config(tmp)
    pids: list[int] = []
    with postgres_server(("prefect", "mlflow")) as pg:
        try:
            base = client_env(None, None, state)
            up_env = {**base, "PEVL_PREFECT_DB": pg.url("prefect"), "PEVL_MLFLOW_DB": pg.url("mlflow")}
            up = cli(["pevl", "up", "--state-dir", str(state), "--no-ui", "--timeout", "300",
                      "--prefect-port", str(services.free_port()), "--mlflow-port", str(services.free_port())],
                     up_env, timeout=360)
            pids += [r.pid for r in (services.read_record(state, n) for n in ("prefect", "mlflow")) if r]
            assert up.returncode == 0, up.stdout + up.stderr
            env = client_env(services.running(state, "prefect"), services.running(state, "mlflow"), state)
            made = cli(["prefect", "work-pool", "create", "--type", "process", POOL, "--overwrite"], env)
            assert made.returncode == 0, made.stdout + made.stderr
            deployed = cli(["pevl", "deploy", str(config), "--pool", POOL, "--state-dir", str(state)], env)
            assert deployed.returncode == 0, deployed.stdout + deployed.stderr
            worker = cli(["pevl", "worker", "--pool", POOL, "--background", "--state-dir", str(state)], env)
            if services.read_record(state, "worker"):
                pids.append(services.read_record(state, "worker").pid)
            assert worker.returncode == 0, worker.stdout + worker.stderr
            yield Stack(tmp, state, env, pg, up.stdout + up.stderr + deployed.stdout + deployed.stderr)
        finally:
            drain_prefect_clients()
            services.down(state)
            alive = [p for p in pids if _alive(p)]
            assert not alive, f"processes left running: {alive}"


def api_post(stack: Stack, path: str, body: dict):
    from pevl.services.security import api_post as post

    return post(stack.env["PREFECT_API_URL"], path, body, stack.env.get("PREFECT_API_AUTH_STRING"), timeout=30)


def test_servers_keep_their_data_in_postgres_and_deployments_belong_to_the_pool(stack):
    prefect, mlflow = services.running(stack.state, "prefect"), services.running(stack.state, "mlflow")
    assert prefect.database.startswith("postgresql+asyncpg://pevl:***@127.0.0.1:")
    assert mlflow.database.startswith("postgresql+psycopg2://pevl:***@127.0.0.1:")
    assert not (stack.state / "prefect" / "prefect.db").exists()
    assert not (stack.state / "mlflow" / "mlflow.db").exists()
    deployments = {d["name"]: d for d in api_post(stack, "deployments/filter", {})}
    entrypoints = {"full-pipeline": "flows.pipeline.pevl_flow", "ablation-grid": "flows.pipeline.pevl_flow",
                   "pretrain-clip": "flows.pretrain_clip.pretrain_clip_flow",
                   "pretrain-poses": "flows.pretrain_poses.pretrain_poses_flow", "predict": "flows.predict.predict_flow"}
    assert set(deployments) == set(entrypoints)
    for name, d in deployments.items():
        assert d["work_pool_name"] == POOL and d["entrypoint"] == entrypoints[name]
        assert d["job_variables"]["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"
    stored = {row[0] for row in query(stack.pg, "prefect", "SELECT name FROM deployment")}
    assert stored == set(entrypoints)
    assert services.running(stack.state, "serve") is None  # the worker runs them, not `pevl serve`


def test_deploy_to_a_missing_pool_says_how_to_create_it(stack):
    out = cli(["pevl", "deploy", "--pool", "no-such-pool", "--state-dir", str(stack.state)], stack.env)
    assert out.returncode == 1
    assert "prefect work-pool create --type process no-such-pool" in out.stderr + out.stdout


def test_full_pipeline_runs_through_the_worker_and_tracks_in_postgres(stack):
    # the grid stage is left to tests/test_flow_e2e.py: here the worker and the databases are on trial
    out = cli(["prefect", "deployment", "run", "pevl/full-pipeline", "--watch", "-p", f"stages={json.dumps(STAGES)}"],
              stack.env, timeout=600)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    flow_run_id = UUID.search(text).group(1)
    summary = json.loads((stack.tmp / "work" / "flow_runs" / f"{flow_run_id}.json").read_text())
    assert {s: v["status"] for s, v in summary["stages"].items()} == {s: "ran" for s in STAGES}

    from pevl.services.security import auth_headers
    import urllib.request

    req = urllib.request.Request(f"{stack.env['PREFECT_API_URL']}/flow_runs/{flow_run_id}",
                                 headers=auth_headers(stack.env.get("PREFECT_API_AUTH_STRING")))
    with urllib.request.urlopen(req, timeout=30) as resp:
        flow_run = json.loads(resp.read())
    assert flow_run["work_pool_name"] == POOL and flow_run["state_type"] == "COMPLETED"
    worker_log = Path(services.running(stack.state, "worker").log).read_text()
    assert flow_run_id in worker_log  # the worker picked it up and started its process
    rows = query(stack.pg, "prefect", f"SELECT state_type FROM flow_run WHERE id = '{flow_run_id}'")
    assert rows == [("COMPLETED",)]
    train_run = summary["stages"]["train"]["info"]["mlflow_run_id"]
    rows = query(stack.pg, "mlflow", f"SELECT status FROM runs WHERE run_uuid = '{train_run}'")
    assert rows == [("FINISHED",)]
    metrics = {r[0] for r in query(stack.pg, "mlflow", f"SELECT key FROM metrics WHERE run_uuid = '{train_run}'")}
    assert {"train/loss", "val/top1", "test/top1"} <= metrics


def test_database_passwords_stay_out_of_output_logs_and_pid_records(stack):
    assert stack.pg.password not in stack.up_output
    assert "database postgresql+asyncpg://pevl:***@" in stack.up_output
    files = [*(stack.state / "run").glob("*.json"), *(stack.state / "logs").glob("*.log")]
    assert {p.stem for p in files} >= {"prefect", "mlflow", "worker"}
    for path in files:
        assert stack.pg.password not in path.read_text(errors="replace"), path
    for name in ("prefect", "mlflow"):
        assert stack.pg.password not in " ".join(services.running(stack.state, name).command)


def test_down_stops_the_worker_then_the_servers(stack):
    pids = {n: services.running(stack.state, n).pid for n in ("worker", "prefect", "mlflow")}
    drain_prefect_clients()
    assert services.down(stack.state) == ["worker", "prefect", "mlflow"]
    assert not any(_alive(p) for p in pids.values())
