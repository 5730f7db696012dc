"""Batch inference as a Prefect flow (`pevl/predict`, flows/predict.py) on a real Prefect server and a
real MLflow server: a folder of SynthDive videos and one bad file, fanned out in batches of two on a
thread pool, gives `predict_videos`'s rows in predictions.parquet, a table artifact, an MLflow run
(the model, the folder as a dataset input, the counts, the parquet) and one task run per batch; bad
inputs and the system's faults fail the run with one line; `pevl serve` registers the deployment.

The model is a tiny SynthDive run through the real stages (160x120, the embedded rtmlib pose
models, 1 epoch), as in tests/test_predict.py.
"""

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pevl import paths
from pevl.services import servers as services
from pevl.storage.tables import read_table
from schemas import OrchestrationConfig, PredictionRow
from servers import both_servers
from train_fixtures import ROOT, sqlite_uri, tiny_config

SYNTH = ["dataset.synth.clips_per_class=4", "dataset.synth.classes=[0,1,2,3]", "dataset.synth.width=160",
         "dataset.synth.height=120", "dataset.synth.workers=1", "dataset.synth.test_fraction=0.5",
         "decode.frames=8", "decode.short_side=96", "decode.workers=1", "poses.backend=rtmlib", "poses.workers=1",
         "train.epochs=1", "train.eval_clips=2", "train.eval_crops=1", "tracking.enabled=false"]
THREADS = OrchestrationConfig(task_runner="thread", max_workers=2)
NOTES = "undecodable: notes.mp4 is not a video or is truncated"


@dataclass
class Model:
    """A trained tiny model and a folder of five of its raw videos plus a text file named .mp4."""

    checkpoint: Path
    folder: Path
    tmp: Path


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Model:
    from pevl.pipeline import run_stages

    tmp = tmp_path_factory.mktemp("predict-flow")
    cfg = tiny_config(tmp, SYNTH)
    run_stages(cfg, ["ingest", "decode", "poses", "shard", "train"])
    folder = tmp / "new"
    folder.mkdir()
    for video in sorted((paths.dataset_root(cfg) / "rgb").glob("*.mp4"))[:5]:
        shutil.copy(video, folder / video.name)
    (folder / "notes.mp4").write_text("these are my notes, not a video\n" * 20)
    return Model(paths.train_dir(cfg) / f"{cfg.train.test_checkpoint}.pt", folder, tmp)


@dataclass
class Servers:
    """A real Prefect server's API URL and a real MLflow server's URL."""

    prefect_api: str
    mlflow_uri: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Servers]:
    """Both servers started side by side, MLflow on a pre-migrated store; stopped in finally."""
    state = tmp_path_factory.mktemp("stack")
    sqlite_uri(tmp_path_factory, state / "mlflow")
    with both_servers(state) as (prefect, mlflow):
        yield Servers(services.prefect_api_url(prefect.port), mlflow.url)


def run_flow(api: str, home: Path, **params):
    """predict_flow in this process against the server at `api`; its final state."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    from flows.predict import predict_flow

    with temporary_settings({PREFECT_API_URL: api, PREFECT_HOME: home}):
        return predict_flow(**params, return_state=True)


def api_post(api: str, path: str, body: dict) -> list[dict]:
    from pevl.services.security import api_post as post

    return post(api, path, body, timeout=30)


def test_the_flow_predicts_in_batches_and_records_the_run(model, stack):
    import json

    from mlflow.tracking import MlflowClient

    from pevl.predict.inputs import collect_videos
    from pevl.predict.predict import predict_videos

    prefect_api, mlflow_uri = stack.prefect_api, stack.mlflow_uri
    out = model.tmp / "out"
    state = run_flow(prefect_api, model.tmp / "home", model=str(model.checkpoint), videos=str(model.folder),
                     out=str(out), top_k=3, batch_size=2, tracking_uri=mlflow_uri, orchestration=THREADS)
    assert state.is_completed(), state.message
    record = state.result()
    assert (record["videos"], record["rows"], record["predicted"], record["rejected"], record["batches"]) == (
        6, 6, 5, 1, 3)
    assert record["summary"] == "5 predicted, 1 rejected (undecodable: 1)"

    rows = read_table(out / "predictions.parquet", PredictionRow)
    expected = predict_videos(collect_videos([str(model.folder)]), model.checkpoint, top_k=3, show_progress=False)
    assert [r.path for r in rows] == [r.path for r in expected] and len(rows) == 6  # input order
    for row, want in zip(rows, expected):
        assert (row.status, row.reason, row.top_names) == (want.status, want.reason, want.top_names)
        assert row.top_probs == pytest.approx(want.top_probs, abs=1e-6)
    (bad,) = [r for r in rows if r.status == "rejected"]
    assert Path(bad.path).name == "notes.mp4" and bad.reason == NOTES and bad.top_names == []
    assert (out / "config.yaml").is_file()

    flow_run_id = str(state.state_details.flow_run_id)
    (artifact,) = api_post(prefect_api, "artifacts/filter", {"artifacts": {"key": {"any_": ["pevl-predictions"]}},
                                                             "flow_runs": {"id": {"any_": [flow_run_id]}}})
    table = json.loads(artifact["data"]) if isinstance(artifact["data"], str) else artifact["data"]
    assert [t["video"] for t in table] == [r.path for r in rows]
    assert [(t["status"], t["top-1"], t["reason"]) for t in table] == [
        (r.status, r.top_names[0] if r.top_names else "", r.reason) for r in rows]
    assert [t["prob"] for t in table if t["prob"] is not None] == pytest.approx(
        [r.top_probs[0] for r in rows if r.top_probs], abs=1e-4)
    assert "5 predicted, 1 rejected" in artifact["description"]

    children = api_post(prefect_api, "flow_runs/filter", {"flow_runs": {"parent_flow_run_id": {"any_": [flow_run_id]}}})
    tasks = api_post(prefect_api, "task_runs/filter", {"flow_runs": {"id": {"any_": [c["id"] for c in children]}}})
    assert sorted(t["task_key"].startswith("predict_batch") for t in tasks) == [True] * record["batches"]
    assert all(t["state_type"] == "COMPLETED" for t in tasks)

    client = MlflowClient(tracking_uri=mlflow_uri)
    run = client.get_run(record["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["model"] == str(model.checkpoint) and run.data.params["batch_size"] == "2"
    assert run.data.tags["model"] == str(model.checkpoint) and run.data.tags["prefect.flow_run_id"] == flow_run_id
    assert {k: run.data.metrics[k] for k in ("videos", "rows", "predicted", "rejected")} == {
        "videos": 6, "rows": 6, "predicted": 5, "rejected": 1}
    (used,) = run.inputs.dataset_inputs
    source = json.loads(used.dataset.source)
    assert (used.dataset.name, source["uri"]) == ("new", str(model.folder))
    assert [(t.key, t.value) for t in used.tags] == [("mlflow.data.context", "inference")]
    assert json.loads(used.dataset.profile) == {"videos": 6, "predicted": 5, "rejected": 1}
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "pevl-predict"
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"predictions.parquet", "config.yaml"}


@pytest.mark.parametrize("fault", ["out_under_a_file", "unknown_model_uri", "dead_tracking_server", "empty_folder"])
def test_faults_fail_the_run_with_one_line_before_any_video_is_read(model, stack, fault):
    prefect_api, tracking = stack.prefect_api, stack.mlflow_uri
    out, videos, checkpoint = model.tmp / fault / "out", str(model.folder), str(model.checkpoint)
    (model.tmp / fault).mkdir()
    named = {"out_under_a_file": model.tmp / fault / "afile" / "out", "unknown_model_uri": "models:/no-such-model/1",
             "dead_tracking_server": f"http://127.0.0.1:{services.free_port()}",
             "empty_folder": model.tmp / fault / "novideos"}[fault]
    if fault == "out_under_a_file":
        (model.tmp / fault / "afile").write_text("x")
        out = named
    if fault == "unknown_model_uri":
        checkpoint = named
    if fault == "dead_tracking_server":
        tracking = named
    if fault == "empty_folder":
        named.mkdir()
        videos = str(named)
    state = run_flow(prefect_api, model.tmp / "home", model=checkpoint, videos=videos, out=str(out),
                     tracking_uri=tracking, orchestration=THREADS)
    assert state.is_failed()
    assert str(named) in state.message and "\n" not in state.message, state.message
    assert not (out / "predictions.parquet").exists()
    children = api_post(prefect_api, "flow_runs/filter",
                        {"flow_runs": {"parent_flow_run_id": {"any_": [str(state.state_details.flow_run_id)]}}})
    assert children == []  # nothing fanned out


def test_pevl_serve_registers_the_predict_deployment(tmp_path):
    from prefect.utilities.callables import parameter_schema

    from flows.deployments import DEPLOYMENTS, PREDICT, all_deployments, predict_deployment
    from flows.predict import predict_flow

    deployment = predict_deployment(ROOT / "configs/demo.yaml", ["orchestration.task_runner=process"], base=tmp_path)
    assert f"{deployment.flow_name}/{deployment.name}" == "pevl/predict"
    assert deployment.entrypoint == "flows.predict.predict_flow"
    assert deployment.parameters["orchestration"]["task_runner"] == "process"
    schema = parameter_schema(predict_flow).model_dump()  # what the deployment registers
    assert schema["required"] == ["model", "videos"]
    assert {"out", "top_k", "views", "batch_size", "tracking_uri"} <= set(schema["properties"])
    served = all_deployments(ROOT / "configs/demo.yaml", base=tmp_path)
    assert [d.name for d in served] == list(DEPLOYMENTS) and PREDICT in DEPLOYMENTS


def test_batches_keep_the_input_order(tmp_path):
    from pevl.predict.batch import merge_rows, parse_views, plan_batches
    from pevl.predict.inputs import VideoInput
    from schemas import ConfigError

    videos = [VideoInput(tmp_path / f"{i}.mp4", i, i + 10 if i % 2 else None) for i in range(5)]
    batches = plan_batches(videos, 2)
    assert [len(b) for b in batches] == [2, 2, 1]
    assert [(r["path"], r["start_frame"], r["end_frame"]) for b in batches for r in b] == [
        (str(v.path), v.start_frame, v.end_frame) for v in videos]
    rows = [[{"path": r["path"], "status": "rejected", "model": "m", "model_sha256": ""} for r in b] for b in batches]
    assert [r.path for r in merge_rows(rows)] == [str(v.path) for v in videos]
    assert parse_views("2x1") == (2, 1) and parse_views(None) == (None, None)
    with pytest.raises(ConfigError, match="views: expected CLIPSxCROPS"):
        parse_views("2x0")
    with pytest.raises(ConfigError, match="batch_size"):
        plan_batches(videos, 0)
