"""The demo's closing message: it prints the grid's comparison table and how long the run took."""

from pevl.commands.demo import closing_message, duration
from train_fixtures import migrated_mlflow_uri  # noqa: F401 - the `mlflow_uri` fixture (a real server)


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
