"""What the Prefect UI shows besides logs: progress artifacts of the long stages, the grid's comparison
as a table artifact and links to the MLflow runs in the run summary. The end-to-end test runs the
real `pevl` flow (every stage, tiny SynthDive) in its own process against a real Prefect server
and a real MLflow server."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pevl.progress import LogProgress, UiProgress, progress, report_progress
from servers import both_servers, client_env, drain_prefect_clients, prefect_server

ROOT = Path(__file__).resolve().parents[1]
RUN_FLOW = """
import json, sys
from flows.pipeline import pevl_flow
from schemas import load_config
record = pevl_flow(config=load_config(sys.argv[1]))
print("RECORD " + json.dumps(record))
"""


def test_outside_a_prefect_run_reporting_is_a_no_op():
    import prefect  # noqa: F401 - loaded, as in the flow's process, but no run is active

    assert not isinstance(report_progress("decode", 10, "clip"), UiProgress)
    assert isinstance(progress(total=10, desc="decode", report=True), LogProgress)  # the bar alone


def test_comparison_rows_and_links():
    from flows.artifacts import comparison_rows, run_link

    md = "**grid**\n\n| config | test top-1 % |\n|---|---|\n| base | 10.0 |\n| +Pose | 12.5 |\n\nnote | not a row\n"
    assert comparison_rows(md) == [{"config": "base", "test top-1 %": "10.0"},
                                   {"config": "+Pose", "test top-1 %": "12.5"}]
    where = {"uri": "http://127.0.0.1:5000", "experiment": "e", "experiment_id": "3"}
    assert run_link(where, "r1") == "[r1](http://127.0.0.1:5000/#/experiments/3/runs/r1?workflowType=machine_learning)"
    assert run_link({"uri": "sqlite:////w/mlflow.db"}, "r1") == "`r1`"  # no UI to link to


def _artifacts(api: str, env: dict, body: dict) -> list[dict]:
    from pevl.services.security import api_post

    return api_post(api, "artifacts/filter", body, env.get("PREFECT_API_AUTH_STRING"), timeout=30)


@pytest.mark.slow
def test_a_progress_artifact_is_rate_limited_and_ends_at_100(tmp_path, monkeypatch):
    """1000 updates inside a real flow run reach the API a few times (at most one per 5%), then 100%."""
    from prefect import flow
    from prefect import artifacts as prefect_artifacts
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    sent = []
    real_update = prefect_artifacts.update_progress_artifact

    def counting_update(*args, **kwargs):  # a spy: the real call, counted
        sent.append(args[1] if len(args) > 1 else kwargs["progress"])
        return real_update(*args, **kwargs)

    monkeypatch.setattr(prefect_artifacts, "update_progress_artifact", counting_update)

    @flow(name="progress-check")
    def work() -> str:
        ui = UiProgress("shard", 1000, "clip", min_interval=0.0)
        for _ in range(1000):
            ui.update()
        ui.close()
        return str(ui.artifact_id)

    with prefect_server(tmp_path / "state") as rec:
        from pevl.services import servers as services

        api = services.prefect_api_url(rec.port)
        with temporary_settings({PREFECT_API_URL: api, PREFECT_HOME: tmp_path / "home"}):
            artifact_id = work()
        found = _artifacts(api, {}, {"artifacts": {"id": {"any_": [artifact_id]}}})
        drain_prefect_clients()
    assert 2 <= len(sent) <= 21 and sent[-1] == 100.0  # 5%, 10% ... 95% at most, then the final
    assert found[0]["type"] == "progress" and found[0]["data"] == 100.0
    assert found[0]["description"].startswith("shard: 1000/1000 clip")


@pytest.fixture(scope="module")
def flow_run(tmp_path_factory):
    """The whole pipeline once on a tiny SynthDive: (artifacts of the server, summary record, env)."""
    from test_flow_e2e import write_tiny_config

    tmp = tmp_path_factory.mktemp("artifacts")
    config = write_tiny_config(tmp)
    state = tmp / "state"
    with both_servers(state) as (prefect, mlflow):
        env = client_env(prefect, mlflow, state)
        out = subprocess.run([sys.executable, "-c", RUN_FLOW, str(config)], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=600)
        assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
        record = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("RECORD "))[7:])
        artifacts = _artifacts(env["PREFECT_API_URL"], env, {"limit": 200})
    drain_prefect_clients()
    return artifacts, record, mlflow.url


@pytest.mark.slow
def test_long_stages_leave_progress_artifacts_at_100(flow_run):
    artifacts, _, _ = flow_run
    progress_ = [a for a in artifacts if a["type"] == "progress"]
    labels = {a["description"].split(":")[0] for a in progress_}
    assert {"decode", "poses", "shard", "train", "grid tiny"} <= labels, labels
    assert all(a["data"] == 100.0 for a in progress_), [(a["description"], a["data"]) for a in progress_]
    assert all(a["task_run_id"] or a["flow_run_id"] for a in progress_)  # each attached to its run


@pytest.mark.slow
def test_the_summary_has_the_comparison_table_and_links_to_the_mlflow_runs(flow_run):
    artifacts, record, mlflow_url = flow_run
    tables = [a for a in artifacts if a["key"] == "pevl-comparison"]
    assert len(tables) == 1 and tables[0]["type"] == "table"
    rows = json.loads(tables[0]["data"])
    assert [r["config"] for r in rows] == ["no_pose", "pevl"] and all("test top-1 %" in r for r in rows)
    summary = next(a for a in artifacts if a["key"] == "pevl-run-summary")["data"]
    exp = record["mlflow"]["experiment_id"]
    assert exp and record["mlflow"]["uri"] == mlflow_url
    train_run = record["stages"]["train"]["info"]["mlflow_run_id"]
    assert f"({mlflow_url}/#/experiments/{exp}/runs/{train_run}?workflowType=machine_learning)" in summary
    assert f"({mlflow_url}/#/experiments/{exp}?workflowType=machine_learning)" in summary  # its runs table
    assert summary.count("| grid | row ") == 2  # each grid row's child run


@pytest.mark.slow
def test_the_prefect_ui_on_another_port_calls_the_api_on_that_port(tmp_path):
    """`pevl up --prefect-port P`: the UI's settings name P (Prefect builds them from its port setting,
    not from `--port`; without it the UI called :4200)."""
    import urllib.request

    from pevl.services import servers as services

    port = services.free_port()
    try:
        rec, _ = services.start(services.prefect_service(tmp_path, port, ui=True), tmp_path, 120.0)
        with urllib.request.urlopen(f"{rec.url}/ui-settings", timeout=10) as resp:
            settings = json.loads(resp.read())
    finally:
        services.stop(tmp_path, "prefect")
    assert settings["api_url"] == f"http://127.0.0.1:{port}/api"


@pytest.mark.slow
def test_a_grid_with_a_study_adds_the_study_table_artifact(tmp_path):
    """The summary of a run whose grid has a study section (real Prefect server): `pevl-study` beside
    `pevl-comparison`, one record per condition with its variants' columns."""
    from prefect import flow
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    from flows.summary import StageOutcome, publish
    from schemas import StageResult
    from train_fixtures import tiny_config

    (tmp_path / "comparison.md").write_text("| config | test top-1 % |\n|---|---|\n| gt/full | 50.0 |\n")
    (tmp_path / "study.md").write_text("**s**\n\n| condition | jitter (px) | full |\n|---|---|---|\n"
                                       "| gt | 0.0 | 50.0 ± 1.0 |\n| j4 | 4.0 | 40.0 ± 2.0 |\n")
    cfg = tiny_config(tmp_path, ["tracking.enabled=false"])
    grid = StageResult(stage="grid", output=str(tmp_path), config_hash="h",
                       info={"table": str(tmp_path / "comparison.md"), "study": str(tmp_path / "study.md")})

    @flow(name="study-summary")
    def summarise() -> None:
        publish(cfg, [StageOutcome("grid", "ran", grid)], {})

    with prefect_server(tmp_path / "state") as rec:
        from pevl.services import servers as services

        api = services.prefect_api_url(rec.port)
        with temporary_settings({PREFECT_API_URL: api, PREFECT_HOME: tmp_path / "home"}):
            summarise()
        found = {a["key"]: a for a in _artifacts(api, {}, {"limit": 50})}
        drain_prefect_clients()
    assert found["pevl-study"]["type"] == "table" and found["pevl-comparison"]["type"] == "table"
    assert json.loads(found["pevl-study"]["data"]) == [{"condition": "gt", "jitter (px)": "0.0", "full": "50.0 ± 1.0"},
                                                       {"condition": "j4", "jitter (px)": "4.0", "full": "40.0 ± 2.0"}]
