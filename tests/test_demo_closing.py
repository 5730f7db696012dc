"""The demo's closing: the grid's comparison table, how long the run took, and new SynthDive videos
predicted by the model the run registered (pevl/predict/demo_videos.py, on a tiny registered model)."""

import pytest

from pevl import paths
from pevl.commands.demo import closing_message, duration
from schemas import PipelineConfig, StageResult, save_config
from train_fixtures import migrated_mlflow_uri, tiny_config  # noqa: F401 - the `mlflow_uri` fixture (a real server)


def test_closing_message_prints_the_comparison_table(tmp_path):
    table = tmp_path / "comparison.md"
    table.write_text("**components: demo on synthdive**\n\n| config | test top-1 % | Δ top-1 vs previous |\n"
                     "|---|---|---|\n| video_text_baseline | 9.4 |  |\n| plus_pose | 31.2 | +21.8 |\n")
    record = {"work_dir": "/w", "stages": {"grid": {"status": "ran", "info": {"table": str(table)}}}}
    lines = closing_message("http://127.0.0.1:4200", "http://127.0.0.1:5000", "fid", record, True, seconds=425.2)
    text = "\n".join(lines)
    assert "The pipeline run completed in 7 min 05 s." in text
    assert f"Comparison table: {table}" in text
    assert "    | plus_pose | 31.2 | +21.8 |" in lines  # each row with its Δ, indented under the path
    assert "    | video_text_baseline | 9.4 |  |" in lines


def test_closing_message_without_a_table_file_says_so(tmp_path):
    missing = tmp_path / "gone.md"
    record = {"stages": {"grid": {"status": "cached", "info": {"table": str(missing)}}}}
    lines = closing_message("http://p", "http://m", "", record, False)
    assert f"    (not found: {missing})" in lines
    assert lines[1] == "The pipeline run FAILED (see the flow run's logs)."


def test_duration_reads_as_minutes_and_seconds():
    assert duration(42.4) == "42 s"
    assert duration(60) == "1 min 00 s"
    assert duration(599.6) == "10 min 00 s"


def test_the_closing_mlflow_link_opens_the_experiment_on_its_training_runs(mlflow_uri):
    """Against a real `mlflow server`: the demo's MLflow line names the experiment page with the model-training
    view (MLflow's UI opens on its GenAI pages otherwise); an unknown experiment or a dead server gives the list."""
    from mlflow.tracking import MlflowClient

    from flows.artifacts import experiment_url
    from pevl.services import servers as services

    exp = MlflowClient(tracking_uri=mlflow_uri).create_experiment("pevl-closing")
    assert experiment_url(mlflow_uri, "pevl-closing") == f"{mlflow_uri}/#/experiments/{exp}?workflowType=machine_learning"
    assert experiment_url(mlflow_uri, "no-such") == f"{mlflow_uri}/#/experiments?workflowType=machine_learning"
    dead = f"http://127.0.0.1:{services.free_port()}"
    assert experiment_url(dead, "pevl-closing") == f"{dead}/#/experiments?workflowType=machine_learning"


REGISTERED = "pevl-demo-closing"


@pytest.fixture(scope="module")
def registered(tmp_path_factory, mlflow_uri) -> PipelineConfig:
    """A tiny SynthDive model (3 classes, 64x48, ground-truth poses, 1 epoch) trained by `pevl train --register`
    against the real MLflow server, then registered a second time: versions 1 and 2."""
    from mlflow.tracking import MlflowClient

    from pevl.cli import main
    from pevl.pipeline import run_stages
    from pevl.predict.logged_model import register_model

    tmp = tmp_path_factory.mktemp("closing")
    cfg = tiny_config(tmp, ["dataset.synth.clips_per_class=2", "dataset.synth.classes=[0,1,2]",
                            "dataset.synth.width=64", "dataset.synth.height=48", "dataset.synth.workers=1",
                            "decode.frames=8", "decode.short_side=32", "decode.workers=1", "poses.workers=1",
                            "train.epochs=1", "train.eval_clips=1", "train.eval_crops=1",
                            "tracking.log_checkpoint=false", f"tracking.uri={mlflow_uri}"])
    run_stages(cfg, ["ingest", "decode", "poses", "shard"])
    assert main(["train", str(save_config(cfg, tmp / "tiny.yaml")), "--register", REGISTERED]) == 0
    info = StageResult.model_validate_json((paths.train_dir(cfg) / "result.json").read_text()).info
    client = MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
    assert register_model(client, info["mlflow_run_id"], info["model_id"], REGISTERED) == "2"
    return cfg


def test_the_demo_ends_with_new_videos_through_the_registered_model(registered, mlflow_uri, tmp_path):
    """Rendered with a seed no config uses, of the classes the model was trained on, predicted through
    models:/NAME/<latest version>: one table row per video with its true class."""
    from pevl.datasets.text import diving48_class_text
    from pevl.predict.demo_videos import DEMO_SEED, latest_model_uri, predict_demo_videos, prediction_lines
    from pevl.synth.vocab import load_vocab

    uri = latest_model_uri(REGISTERED, mlflow_uri)
    assert uri == f"models:/{REGISTERED}/2"
    rows = predict_demo_videos(uri, tmp_path / "videos", [0, 1, 2], count=2, size=(64, 48), tracking_uri=mlflow_uri)
    assert len(rows) == 2 and len({r.label for r in rows}) == 2 and {r.label for r in rows} <= {0, 1, 2}
    trained = {p.name for p in (paths.dataset_root(registered) / "rgb").glob("*.mp4")}
    names = [diving48_class_text(i, list(v)).name for i, v in enumerate(load_vocab())]
    for r in rows:
        assert r.video.is_file() and r.video.name not in trained  # a new video, not one of the dataset's
        assert r.true_class == names[r.label]
        assert r.predicted == names[r.predicted_label] and 0.0 < r.prob <= 1.0  # the model's top-1 among its 48
    lines = prediction_lines(rows)
    assert lines[0].split() == ["video", "true", "class", "predicted", "class", "probability"]
    for r, line in zip(rows, lines[1:3]):
        assert line.split()[:4] == [r.video.name, r.true_class, r.predicted, f"{r.prob:.2f}"]
    assert lines[-1] == f"  {sum(r.right for r in rows)} of 2 right"
    assert DEMO_SEED != registered.dataset.synth.seed


def test_a_name_with_no_registered_version_is_one_clear_error(mlflow_uri):
    from pevl.predict.bundle import ModelError
    from pevl.predict.demo_videos import latest_model_uri

    with pytest.raises(ModelError, match="the registered model no-such-model has no version on"):
        latest_model_uri("no-such-model", mlflow_uri)
