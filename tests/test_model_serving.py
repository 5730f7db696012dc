"""Trained models in MLflow: a tiny SynthDive run trained by `pevl train --register` against a real
MLflow server logs its model (pyfunc from code: checkpoint + pose model files) and registers it;
`mlflow models serve` answers as `pevl predict` does (a path and base64 bytes; a bad row is a
rejected row, a body that is not JSON MLflow's 400, and the server goes on); `pevl predict` loads
runs:/ and models:/ URIs; a URI that does not resolve stops with one line and exit 2.

The run goes through every real stage (SynthDive at 160x120, the embedded rtmlib pose models,
1 epoch), as in tests/test_predict.py.
"""

import base64
import json
import logging
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from pevl import paths
from pevl.cli import main
from pevl.services import servers as services
from pevl.storage.integrity import file_sha256
from pevl.storage.tables import read_table
from schemas import PipelineConfig, PredictionRow, save_config
from train_fixtures import migrated_mlflow_uri, tiny_config  # noqa: F401 (fixture mlflow_uri)

NAME = "pevl-tiny-served"
SYNTH = ["dataset.synth.clips_per_class=4", "dataset.synth.classes=[0,1,2,3]", "dataset.synth.width=160",
         "dataset.synth.height=120", "dataset.synth.workers=1", "dataset.synth.test_fraction=0.5",
         "decode.frames=8", "decode.short_side=96", "decode.workers=1", "poses.backend=rtmlib", "poses.workers=1",
         "train.epochs=1", "train.eval_clips=2", "train.eval_crops=1", "tracking.log_checkpoint=false"]
POSE_ASSETS = Path(__file__).resolve().parents[1] / "pevl" / "assets" / "models" / "pose"
TOP_K = 3


@dataclass
class Trained:
    """The registered tiny run: config, checkpoint, MLflow ids, two raw videos and `pevl predict`'s rows for them."""

    cfg: PipelineConfig
    uri: str
    checkpoint: Path
    run_id: str
    model_id: str
    videos: list[Path]
    expected: list[PredictionRow]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mlflow_uri) -> Trained:
    from pevl.pipeline import run_stages
    from schemas import StageResult

    tmp = tmp_path_factory.mktemp("served")
    cfg = tiny_config(tmp, [*SYNTH, f"tracking.uri={mlflow_uri}"])
    run_stages(cfg, ["ingest", "decode", "poses", "shard"])
    config = save_config(cfg, tmp / "tiny.yaml")
    assert main(["train", str(config), "--register", NAME]) == 0
    run_stages(cfg, ["evaluate"])
    info = StageResult.model_validate_json((paths.train_dir(cfg) / "result.json").read_text()).info
    assert info["registered"] == f"models:/{NAME}/1" and info["model_uri"] == f"runs:/{info['mlflow_run_id']}/model"
    videos = sorted((paths.dataset_root(cfg) / "rgb").glob("*.mp4"))[:2]
    out = tmp / "expected"
    assert main(["predict", *map(str, videos), "--model", info["checkpoint"], "--top-k", str(TOP_K),
                 "--out", str(out)]) == 0
    expected = read_table(out / "predictions.parquet", PredictionRow)
    assert [r.status for r in expected] == ["ok", "ok"]
    return Trained(cfg, mlflow_uri, Path(info["checkpoint"]), info["mlflow_run_id"], info["model_id"], videos, expected)


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_training_logs_the_model_and_registers_a_version(trained, tmp_path):
    import yaml
    from mlflow.artifacts import download_artifacts

    from pevl.predict.logged_model import register_model

    client = _client(trained.uri)
    run = client.get_run(trained.run_id)
    assert [m.model_id for m in run.outputs.model_outputs] == [trained.model_id]  # the run's Models column
    model = client.get_logged_model(trained.model_id)
    assert (model.name, model.source_run_id, str(model.status)) == ("model", trained.run_id, "READY")
    linked = {m.key for m in model.metrics or []}
    assert {"val/top1", "train_epoch/total", "test/top1"} <= linked  # the run's metrics at the model's step
    local = Path(download_artifacts(artifact_uri=model.artifact_location, dst_path=str(tmp_path),
                                    tracking_uri=trained.uri))
    mlmodel = yaml.safe_load((local / "MLmodel").read_text())
    flavor = mlmodel["flavors"]["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model" and (local / "pyfunc_code.py").is_file()
    assert not list(local.rglob("*.pkl"))  # code, not a pickled object
    assert [c["name"] for c in json.loads(mlmodel["signature"]["inputs"])] == ["video", "video_b64"]
    assert file_sha256(local / flavor["artifacts"]["checkpoint"]["path"]) == file_sha256(trained.checkpoint)
    poses = local / flavor["artifacts"]["pose_models"]["path"]
    listed = json.loads((poses / "pose_models.json").read_text())
    assert listed["backend"] == "rtmlib"
    for entry in listed["models"]:
        shipped = POSE_ASSETS / f"{entry['name']}.onnx"
        assert entry["sha256"] == file_sha256(shipped) == file_sha256(poses / entry["file"])
    assert {e["name"] for e in listed["models"]} == {"synthdive_det", "synthdive_pose"}
    version = client.get_model_version(NAME, "1")
    assert (version.run_id, version.source) == (trained.run_id, f"models:/{trained.model_id}")
    assert register_model(client, trained.run_id, trained.model_id, NAME) == "2"  # a new version each time


@contextmanager
def model_server(state: Path, model_uri: str, tracking: str) -> Iterator[str]:
    """`mlflow models serve` of a model URI on a free port, run in a folder away from the checkout; stopped on exit."""
    port = services.free_port()
    url = f"http://127.0.0.1:{port}"
    command = [services.console_script("mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
               "-h", "127.0.0.1", "-p", str(port)]
    env = {**services.QUIET_ENV, "MLFLOW_TRACKING_URI": tracking,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # its uvicorn
    service = services.Service("model-server", command, env, port, url, f"{url}/ping", cwd=str(state))
    try:
        services.start(service, state, timeout=180)
        yield url
    finally:
        services.stop(state, "model-server")


def _invoke(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(f"{url}/invocations", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _records(records: list[dict]) -> bytes:
    return json.dumps({"dataframe_records": records, "params": {"top_k": TOP_K}}).encode()


def _assert_same(answer: dict, expected: PredictionRow) -> None:
    assert answer["status"] == "ok" and answer["reason"] == ""
    assert answer["top_labels"] == expected.top_labels and answer["top_names"] == expected.top_names
    assert answer["top_probs"] == pytest.approx(expected.top_probs, abs=1e-5)
    assert answer["model_sha256"] == expected.model_sha256


def test_the_served_model_answers_as_pevl_predict(trained, tmp_path):
    video, other = trained.videos
    encoded = base64.b64encode(video.read_bytes()).decode()
    with model_server(tmp_path, f"models:/{NAME}/1", trained.uri) as url:
        status, body = _invoke(url, _records([{"video": str(video)}, {"video_b64": encoded}]))
        assert status == 200, body
        first, second = body["predictions"]
        assert first["video"] == str(video) and second["video"] == "video_b64[1]"
        _assert_same(first, trained.expected[0])
        _assert_same(second, trained.expected[0])
        # a row of bytes that are not a video is a rejected row; the request's other rows are answered
        junk = base64.b64encode(b"these are my notes, not a video\n" * 20).decode()
        status, body = _invoke(url, _records([{"video_b64": junk}, {"video": str(other)}, {"video_b64": "%%%"}]))
        assert status == 200, body
        bad, good, garbled = body["predictions"]
        assert (bad["status"], bad["reason"]) == ("rejected",
                                                  "undecodable: video_b64-0.mp4 is not a video or is truncated")
        assert bad["top_labels"] == [] and garbled["status"] == "rejected"
        assert garbled["reason"].startswith("bad input: video_b64 is not base64")
        _assert_same(good, trained.expected[1])
        # a body that is not JSON is MLflow's own 400, with a message
        status, body = _invoke(url, b"this is not json")
        assert status == 400 and "valid JSON" in body["message"]
        status, body = _invoke(url, _records([{"video": str(video)}]))  # and the server goes on
        assert status == 200
        _assert_same(body["predictions"][0], trained.expected[0])


def test_predict_loads_runs_and_models_uris(trained, tmp_path, monkeypatch, capsys):
    import mlflow.pyfunc

    client = _client(trained.uri)
    client.set_registered_model_alias(NAME, "champion", "1")
    video = str(trained.videos[0])
    uris = [f"runs:/{trained.run_id}", f"runs:/{trained.run_id}/model", f"models:/{NAME}/1", f"models:/{NAME}@champion"]
    for i, uri in enumerate(uris):
        out = tmp_path / f"out{i}"
        args = ["--tracking-uri", trained.uri] if i % 2 else []  # else from $MLFLOW_TRACKING_URI
        monkeypatch.setenv("MLFLOW_TRACKING_URI", trained.uri if not args else "http://127.0.0.1:9")
        assert main(["predict", video, "--model", uri, "--top-k", str(TOP_K), "--out", str(out), *args]) == 0, uri
        row = read_table(out / "predictions.parquet", PredictionRow)[0]
        assert row.model == uri and row.model_sha256 == file_sha256(trained.checkpoint)
        assert row.top_labels == trained.expected[0].top_labels
        assert row.top_probs == pytest.approx(trained.expected[0].top_probs, abs=1e-5)
    assert "predict: 1 predicted, 0 rejected" in capsys.readouterr().out
    mlflow.set_tracking_uri(trained.uri)  # MLflow's own loader reads its global URI (another module may have set it)
    try:
        loaded = mlflow.pyfunc.load_model(f"models:/{NAME}/1")
    finally:
        mlflow.set_tracking_uri(None)
    answer = loaded.predict([{"video": video}, {"video": str(tmp_path / "gone.mp4")}], params={"top_k": TOP_K})
    first = {k: v if isinstance(v, str) else list(v) for k, v in answer.iloc[0].items()}  # lists come back as arrays
    _assert_same(first, trained.expected[0])
    assert answer.iloc[1]["reason"] == "missing file: gone.mp4 does not exist"


@pytest.mark.parametrize("case", ["no_run", "no_name", "no_version", "no_alias", "dead_server", "no_store"])
def test_a_uri_that_does_not_resolve_stops_with_one_line_and_exit_2(trained, tmp_path, monkeypatch, caplog,
                                                                    capsys, case):
    uri, tracking = {
        "no_run": ("runs:/0123456789abcdef0123456789abcdef", trained.uri),
        "no_name": ("models:/no-such-model/1", trained.uri),
        "no_version": (f"models:/{NAME}/99", trained.uri),
        "no_alias": (f"models:/{NAME}@nobody", trained.uri),
        "dead_server": (f"models:/{NAME}/1", f"http://127.0.0.1:{services.free_port()}"),
        "no_store": (f"models:/{NAME}/1", None),
    }[case]
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)  # no work/demo/mlflow.db here
    caplog.set_level(logging.INFO)
    args = ["--tracking-uri", tracking] if tracking else []
    assert main(["predict", str(trained.videos[0]), "--model", uri, "--out", str(tmp_path / "out"), *args]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and uri in errors[0] and "\n" not in errors[0], errors
    assert not any("Traceback" in r.getMessage() for r in caplog.records)
    assert capsys.readouterr().out == "" and not (tmp_path / "out" / "predictions.parquet").exists()


def test_a_model_that_cannot_be_logged_is_a_warning_and_training_stands(trained, caplog):
    from pevl.stages.train import log_model
    from pevl.tracking.runs import Tracker

    class GoneServer:
        def get_run(self, run_id):
            raise ConnectionError("Connection refused")

    tracker = Tracker(GoneServer(), "r1", "http://127.0.0.1:9")
    cfg = trained.cfg.model_copy(update={"tracking": trained.cfg.tracking.model_copy(update={"register": NAME})})
    caplog.set_level(logging.WARNING)
    assert log_model(cfg, tracker, trained.checkpoint) == {}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "MLflow log_model for run r1 failed" in warnings[0] and tracker.failed


def test_register_needs_a_logged_model_and_grid_rows_do_not_register(trained):
    from pevl.grid.spec import expand
    from schemas import ConfigError, GridSpec, load_config

    with pytest.raises(ConfigError, match="needs log_model: true"):
        load_config(None, ["tracking.register=x", "tracking.log_model=false"])
    base = trained.cfg.model_copy(update={"tracking": trained.cfg.tracking.model_copy(update={"register": NAME})})
    spec = GridSpec.model_validate({"name": "g", "runs": [{"name": "a", "set": {"train.lr": 0.01}},
                                                          {"name": "b", "set": {"tracking.register": "row-b"}}]})
    assert [c.cfg.tracking.register for c in expand(base, spec)] == [None, "row-b"]


def test_pose_model_files_travel_with_the_model_and_are_checked(tmp_path, monkeypatch):
    from pevl.predict.bundle import ModelError, bundled_poses, write_pose_models
    from schemas import PoseConfig

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # rtmlib's cache: empty
    det = tmp_path / "mine" / "det.onnx"
    det.parent.mkdir()
    det.write_bytes(b"a detector")
    hub = "https://download.example/rtmpose-m_simcc-body7.zip"
    poses = PoseConfig.model_validate({"backend": "rtmlib", "rtmlib": {"det_model": str(det), "pose_model": hub}})
    folder = write_pose_models(poses, tmp_path / "pose_models")
    det.unlink()  # the training machine's file is gone; the model's copy runs
    used = bundled_poses(poses, folder)
    assert used.rtmlib.det_model == str(folder / "det_model" / "det.onnx") and used.rtmlib.pose_model == hub
    listed = json.loads((folder / "pose_models.json").read_text())["models"]
    assert [(e["name"], e["file"], e["sha256"] is None) for e in listed] == [
        ("det", "det_model/det.onnx", False), ("rtmpose-m_simcc-body7", None, True)]
    assert bundled_poses(PoseConfig(backend="ground_truth"), write_pose_models(
        PoseConfig(backend="ground_truth"), tmp_path / "gt")).backend == "ground_truth"
    (folder / "det_model" / "det.onnx").write_bytes(b"another detector")
    with pytest.raises(ModelError, match="not the pose model the model was logged with"):
        bundled_poses(poses, folder)
