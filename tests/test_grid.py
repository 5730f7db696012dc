"""Ablation grid: expansion, comparison table, and the parent/child MLflow structure end to end."""

import pytest
import yaml

from pevl.grid.comparison import comparison_csv, comparison_markdown
from pevl.grid.rows import GridRow
from pevl.grid.spec import expand, load_grid
from schemas import ConfigError
from train_fixtures import sqlite_uri, tiny_config, write_fixture_shards


def _grid_file(tmp_path, runs):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({"name": "mini", "description": "test grid", "runs": runs}))
    return path


def test_expand_gives_one_config_per_row_and_seed(tmp_path):
    cfg = tiny_config(tmp_path, ["grid.seeds=[1,2]"])
    spec = load_grid(_grid_file(tmp_path, [{"name": "video-text", "set": {"model.use_pose": False}},
                                           {"name": "full", "set": {}}]))
    children = expand(cfg, spec)
    assert [(c.name, c.seed) for c in children] == [("video-text", 1), ("video-text", 2), ("full", 1), ("full", 2)]
    assert children[0].cfg.model.use_pose is False and children[2].cfg.model.use_pose is True
    assert children[1].cfg.seed == 2 and children[1].cfg.shards == cfg.shards  # same data


def test_bad_grid_rows_name_the_row_and_field(tmp_path):
    cfg = tiny_config(tmp_path)
    spec = load_grid(_grid_file(tmp_path, [{"name": "typo", "set": {"model.use_posse": False}}]))
    with pytest.raises(ConfigError, match="typo") as e:
        expand(cfg, spec)
    assert "model.use_posse" in str(e.value)
    with pytest.raises(ConfigError, match="runs"):
        load_grid(_grid_file(tmp_path, []))


def test_table_reports_mean_and_spread_over_seeds():
    rows = [GridRow("base", {}, [{"test/top1": 0.2, "test/mean_class_acc": 0.1}], ["r1"], 60.0),
            GridRow("+Pose", {}, [{"test/top1": 0.3, "test/mean_class_acc": 0.2},
                                  {"test/top1": 0.5, "test/mean_class_acc": 0.4}], ["r2", "r3"], 120.0)]
    md = comparison_markdown("t", rows)
    assert "| base | 20.0 | 10.0 |  | 1 | 1.0 |" in md
    assert "| +Pose | 40.0 ± 14.1 | 30.0 ± 14.1 | +20.0 | 2 | 2.0 |" in md
    csv_text = comparison_csv(rows)
    assert csv_text.splitlines()[0] == "config,seed_index,mlflow_run_id,test/mean_class_acc,test/top1"
    assert len(csv_text.splitlines()) == 4


def test_grid_stage_makes_parent_and_child_runs_with_table_artifacts(tmp_path, tmp_path_factory, capsys):
    import mlflow
    from mlflow.tracking import MlflowClient

    from pevl.grid.stage import run_grid

    grid = _grid_file(tmp_path, [{"name": "video-text", "set": {"model.use_pose": False}},
                                 {"name": "+Pose", "set": {}}])
    uri = sqlite_uri(tmp_path_factory, tmp_path)
    cfg = tiny_config(tmp_path, ["train.epochs=1", f"tracking.uri={uri}", f"grid.file={grid}",
                                 "tracking.log_checkpoint=false"])
    write_fixture_shards(cfg)
    result = run_grid(cfg, tags={"prefect.deployment": "ablation-grid"})
    printed = capsys.readouterr().out
    assert "| video-text |" in printed and "| +Pose |" in printed and "test top-1 %" in printed
    mlflow.set_tracking_uri(uri)
    try:
        runs = mlflow.search_runs(experiment_names=["pevl-synthdive"])
    finally:
        mlflow.set_tracking_uri(None)
    parent_id = result.info["mlflow_run_id"]
    parent = runs[runs.run_id == parent_id].iloc[0]
    children = runs[runs["tags.mlflow.parentRunId"] == parent_id]
    assert len(runs) == 3 and len(children) == 2
    assert sorted(children["tags.ablation"]) == ["mini/+Pose", "mini/video-text"]
    assert set(children["params.model.use_pose"]) == {"True", "False"}
    assert set(children["params.seed"]) == {"0"}  # same seed
    assert children["metrics.test/top1"].notna().all()
    assert parent["tags.grid"] == "mini" and parent["tags.prefect.deployment"] == "ablation-grid"
    assert parent["metrics.plus_Pose/top1"] == pytest.approx(float(children[children["tags.ablation"] == "mini/+Pose"]["metrics.test/top1"].iloc[0]))
    names = {a.path for a in MlflowClient(uri).list_artifacts(parent_id)}
    assert {"comparison.md", "comparison.csv", "comparison.png", "grid"} <= names
    again = run_grid(cfg)  # a finished grid is reused, its table printed again
    assert again.skipped and "| +Pose |" in capsys.readouterr().out


def test_grid_with_an_unreachable_tracking_server_stops_before_its_first_row(tmp_path):
    from pevl import paths
    from pevl.services import servers as services
    from pevl.grid.stage import run_grid
    from pevl.storage.outputs import StageError

    uri = f"http://127.0.0.1:{services.free_port()}"  # nothing listens there
    grid = _grid_file(tmp_path, [{"name": "full", "set": {}}])
    cfg = tiny_config(tmp_path, ["train.epochs=1", f"tracking.uri={uri}", f"grid.file={grid}"])
    write_fixture_shards(cfg, train_per_class=1, test_per_class=1)
    with pytest.raises(StageError, match="does not answer"):
        run_grid(cfg)
    assert not paths.train_dir(cfg).exists() or not any(paths.train_dir(cfg).rglob("last.pt"))
