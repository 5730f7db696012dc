"""The grid's rows as a Prefect DAG: the real `pevl` flow (grid stage only) in its own process, as
`pevl serve` runs it, against a real local Prefect server and a real MLflow server; rows on the
process task runner, two at a time."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from servers import client_env, drain_prefect_clients, mlflow_server, prefect_server
from train_fixtures import tiny_config, write_fixture_shards

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
RUN_FLOW = """
import json, sys
from flows.pipeline import pevl_flow
from schemas import load_config
record = pevl_flow(config=load_config(sys.argv[1]), stages=["grid"])
print("RECORD " + json.dumps(record))
"""


def _grid_file(tmp_path: Path) -> Path:
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"name": "pair", "runs": [{"name": "no_pose", "set": {"model.use_pose": False}},
                                                             {"name": "pevl", "set": {}}]}))
    return grid


def _run_flow(tmp_path: Path, cfg, env: dict[str, str]) -> dict:
    """The flow's grid stage in a fresh process (its env read at import, as under `pevl serve`)."""
    from schemas import save_config

    config = save_config(cfg, tmp_path / "tiny.yaml")
    out = subprocess.run([sys.executable, "-c", RUN_FLOW, str(config)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    record = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("RECORD "))[7:])
    assert record["stages"]["grid"]["status"] == "ran", record["stages"]["grid"]
    return record


def _rows(cfg, grid: Path) -> list[dict]:
    from pevl import paths
    from pevl.grid.spec import load_grid

    return json.loads((paths.grid_dir(cfg, load_grid(grid).model_dump(mode="json")) / "rows.json").read_text())


def _ran_together_in_two_processes(rows: list[dict]) -> None:
    assert [r["status"] for r in rows] == ["ran", "ran"]
    (a0, a1), (b0, b1) = rows[0]["span"], rows[1]["span"]
    assert max(a0, b0) < min(a1, b1), "the two rows did not run at the same time"
    pids = {r["where"].rsplit(":", 1)[1] for r in rows}
    assert len(pids) == 2 and str(os.getpid()) not in pids  # two worker processes


def test_two_rows_run_at_once_on_the_process_runner_as_nodes_and_child_runs(tmp_path):
    from mlflow.tracking import MlflowClient

    from pevl.services.security import api_post

    grid = _grid_file(tmp_path)
    state = tmp_path / "state"
    with prefect_server(state / "p") as prefect, mlflow_server(state / "m") as mlflow:
        cfg = tiny_config(tmp_path, ["train.epochs=2", f"tracking.uri={mlflow.url}", f"grid.file={grid}",
                                     "tracking.log_checkpoint=false", "orchestration.task_runner=process",
                                     "grid.parallel=2"])
        write_fixture_shards(cfg)
        env = client_env(prefect, mlflow, state)
        record = _run_flow(tmp_path, cfg, env)

        api = env["PREFECT_API_URL"]
        tasks = api_post(api, "task_runs/filter", {"task_runs": {"name": {"any_": ["no_pose seed 0", "pevl seed 0"]}}},
                         env.get("PREFECT_API_AUTH_STRING"), timeout=30)
        assert sorted(t["name"] for t in tasks) == ["no_pose seed 0", "pevl seed 0"]  # one node per row
        assert len({t["flow_run_id"] for t in tasks}) == 1  # both in the `grid-rows` subflow

        parent = record["stages"]["grid"]["info"]["mlflow_run_id"]
        client = MlflowClient(mlflow.url)
        exp = client.get_experiment_by_name("pevl-synthdive")
        children = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
        assert sorted(c.data.tags["ablation"] for c in children) == ["pair/no_pose", "pair/pevl"]
        assert all("test/top1" in c.data.metrics for c in children)
        assert client.get_run(parent).info.status == "FINISHED"
    drain_prefect_clients()
    _ran_together_in_two_processes(_rows(cfg, grid))


def test_rows_on_a_dask_cluster_take_one_gpu_slot_each(tmp_path):
    """A LocalCluster whose two workers declare GPU=1 (a label here: the rows train on the CPU, as no
    GPU exists on this machine); each row asks for GPU=1, so the two run at once on different workers."""
    grid = _grid_file(tmp_path)
    state = tmp_path / "state"
    with prefect_server(state / "p") as prefect:
        cfg = tiny_config(tmp_path, ["train.epochs=2", "tracking.enabled=false", f"grid.file={grid}",
                                     "orchestration.task_runner=dask", "grid.parallel=2", "grid.row_resources={GPU: 1}"])
        write_fixture_shards(cfg)
        _run_flow(tmp_path, cfg, client_env(prefect, None, state))
    drain_prefect_clients()
    _ran_together_in_two_processes(_rows(cfg, grid))
