"""grid.beside_train: the flow's train and evaluate stages run beside the grid's rows (pevl/grid/beside.py),
and grid rows start longest first (pevl/grid/cost.py). The real `pevl` flow in its own process
against a real Prefect server and a real MLflow server, rows on the process task runner."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from servers import client_env, drain_prefect_clients, mlflow_server, prefect_server
from train_fixtures import tiny_config, write_fixture_shards

ROOT = Path(__file__).resolve().parents[1]
RUN_FLOW = """
import json, sys
from flows.pipeline import pevl_flow
from schemas import load_config
record = pevl_flow(config=load_config(sys.argv[1]), stages=["train", "evaluate", "grid"])
print("RECORD " + json.dumps(record))
"""


def _children(grid_runs):
    from pevl.grid.spec import expand, load_grid

    cfg, grid = grid_runs
    return expand(cfg, load_grid(grid))


@pytest.fixture(name="grid_runs")
def _grid_runs(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"name": "trio", "runs": [
        {"name": "pevl", "set": {}},
        {"name": "no_pose", "set": {"model.use_pose": False}},
        {"name": "no_ucmr", "set": {"model.ucmr.use_ucmr": False}},
    ]}))
    return tiny_config(tmp_path, [f"grid.file={grid}"]), grid


def test_rows_start_longest_first_and_rows_trained_beside_the_grid_last(grid_runs):
    from pevl import paths
    from pevl.grid.cost import dispatch_order, row_costs

    children = _children(grid_runs)
    costs = row_costs(children)
    by_name = dict(zip((c.name for c in children), costs))
    assert by_name["pevl"] > by_name["no_ucmr"] > by_name["no_pose"] > 0  # pose path and UCMR cost FLOPs
    assert [children[i].name for i in dispatch_order(children, costs)] == ["pevl", "no_ucmr", "no_pose"]
    base = frozenset({str(paths.train_dir(grid_runs[0]))})
    assert [children[i].name for i in dispatch_order(children, costs, base)] == ["no_ucmr", "no_pose", "pevl"]
    assert dispatch_order(children, [0.0] * 3) == (0, 1, 2)  # no estimate: grid order


@pytest.mark.slow
def test_train_and_evaluate_run_beside_the_grid_whose_base_row_reuses_them(grid_runs, tmp_path):
    from mlflow.tracking import MlflowClient

    from pevl import paths
    from pevl.grid.spec import load_grid
    from schemas import save_config

    cfg, grid = grid_runs
    state = tmp_path / "state"
    with prefect_server(state / "p") as prefect, mlflow_server(state / "m") as mlflow:
        cfg = cfg.model_copy(update={
            "tracking": cfg.tracking.model_copy(update={"uri": mlflow.url, "log_checkpoint": False}),
            "grid": cfg.grid.model_copy(update={"parallel": 2, "beside_train": True}),
            "orchestration": cfg.orchestration.model_copy(update={"task_runner": "process"}),
            "train": cfg.train.model_copy(update={"epochs": 24})})  # longer than the grid takes to start rows
        write_fixture_shards(cfg)
        out = subprocess.run([sys.executable, "-c", RUN_FLOW, str(save_config(cfg, tmp_path / "tiny.yaml"))], cwd=ROOT,
                             env=client_env(prefect, mlflow, state), capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
        record = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("RECORD "))[7:])
        assert [record["stages"][s]["status"] for s in ("train", "evaluate", "grid")] == ["ran", "ran", "ran"]

        rows = {r["name"]: r for r in json.loads((paths.grid_dir(cfg, load_grid(grid).model_dump(mode="json"))
                                                  / "rows.json").read_text())}
        assert [rows[n]["status"] for n in ("pevl", "no_pose", "no_ucmr")] == ["reused", "ran", "ran"]
        client = MlflowClient(mlflow.url)
        trained_at = (paths.train_dir(cfg) / "_COMPLETE").stat().st_mtime
        first = min(rows["no_pose"]["span"][0], rows["no_ucmr"]["span"][0])
        grid_started = client.get_run(record["stages"]["grid"]["info"]["mlflow_run_id"]).info.start_time / 1000
        assert grid_started < first < trained_at, (
            f"no grid row trained while the train stage did: grid started {grid_started - trained_at:+.1f} s, first row "
            f"{first - trained_at:+.1f} s after the train stage ended ({record['stages']['train']['seconds']:.1f} s)")
        assert rows["pevl"]["span"][1] >= trained_at  # the base row waited for the train stage, then reused it

        train_run = client.get_run(record["stages"]["train"]["info"]["mlflow_run_id"])
        assert "mlflow.parentRunId" not in train_run.data.tags  # the train stage's own run, not a grid child
        assert "test/top1" in train_run.data.metrics  # the evaluate stage logged into it
        child = client.get_run(rows["pevl"]["mlflow_run_id"])
        assert child.data.tags["reused_run_id"] == train_run.info.run_id
        assert child.data.tags["mlflow.parentRunId"] == record["stages"]["grid"]["info"]["mlflow_run_id"]
    drain_prefect_clients()
