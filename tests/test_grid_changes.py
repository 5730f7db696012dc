"""What each grid row changes: from the base config and from the row above, on the child runs
(`row.*` params, `pevl.row` / `pevl.changes` / `pevl.vs_previous` tags) and in the comparison table."""

import yaml

from pevl.grid.changes import diff, row_params, row_tags
from pevl.grid.spec import expand, load_grid
from train_fixtures import sqlite_uri, tiny_config, write_fixture_shards

# cumulative, as the components grid: each row adds one switch to the row above
ROWS = [{"name": "baseline", "set": {"model.use_pose": False, "model.use_adapters": False}},
        {"name": "plus_pose", "set": {"model.use_pose": True, "model.use_adapters": False}},
        {"name": "full", "set": {"model.use_pose": True, "model.use_adapters": True, "train.lr": 0.003}}]


def _grid_file(tmp_path, name="cumulative", runs=ROWS):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "runs": runs}))
    return path


def test_each_row_knows_what_it_changes_from_the_base_and_what_it_adds_to_the_row_above(tmp_path):
    cfg = tiny_config(tmp_path, ["grid.seeds=[0,1]", "model.temporal.kind=none"])
    assert cfg.model.use_pose and cfg.model.use_adapters and cfg.train.lr == 0.003  # the base is the full row
    rows = ROWS + [{"name": "lr", "set": {"train.lr": 0.01, "model.temporal.kind": "aim"}}]
    children = expand(cfg, load_grid(_grid_file(tmp_path, runs=rows)))
    by_row = {c.name: c for c in children if c.seed == 1}  # the seed is not a change of the row
    assert by_row["baseline"].changes == (("model.use_pose", "false"), ("model.use_adapters", "false"))
    assert by_row["baseline"].previous is None  # nothing above the first row
    assert by_row["plus_pose"].changes == (("model.use_adapters", "false"),)
    assert by_row["plus_pose"].previous == (("model.use_pose", "true"),)  # what it adds
    assert by_row["full"].changes == ()  # sets only what the base has already (train.lr included)
    assert by_row["full"].previous == (("model.use_adapters", "true"),)
    assert by_row["lr"].changes == (("model.temporal.kind", "aim"), ("train.lr", "0.01"))
    assert row_params(by_row["lr"].changes) == {"row.model.temporal.kind": "aim", "row.train.lr": "0.01"}
    assert row_tags("full", (), ()) == {"pevl.row": "full", "pevl.changes": "none (the base config)",
                                        "pevl.vs_previous": "none (the same as the row above)"}
    assert "pevl.vs_previous" not in row_tags("baseline", by_row["baseline"].changes, None)
    assert diff({"a": {"b": [1, 2]}, "c": "x"}, {"a": {"b": [1, 3]}, "c": None}) == (("a.b", "[1, 3]"), ("c", "null"))


def test_child_runs_carry_their_rows_changed_fields_and_the_table_names_them(tmp_path, tmp_path_factory):
    from mlflow.tracking import MlflowClient

    from pevl.grid.stage import run_grid

    uri = sqlite_uri(tmp_path_factory, tmp_path)
    cfg = tiny_config(tmp_path, ["train.epochs=1", f"tracking.uri={uri}", f"grid.file={_grid_file(tmp_path)}",
                                 "tracking.log_checkpoint=false", "tracking.log_model=false", "tracking.register=null"])
    write_fixture_shards(cfg, train_per_class=2, test_per_class=1)
    result = run_grid(cfg)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("pevl-synthdive")

    def children(parent: str) -> dict:
        runs = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
        return {r.data.tags["pevl.row"]: r.data for r in runs}

    runs = children(result.info["mlflow_run_id"])
    assert set(runs) == {"baseline", "plus_pose", "full"}
    base, pose, full = runs["baseline"], runs["plus_pose"], runs["full"]
    assert base.tags["pevl.changes"] == "model.use_pose=false, model.use_adapters=false"
    assert {k: v for k, v in base.params.items() if k.startswith("row.")} == {
        "row.model.use_pose": "false", "row.model.use_adapters": "false"}
    assert "pevl.vs_previous" not in base.tags
    assert pose.tags["pevl.changes"] == "model.use_adapters=false" and pose.params["row.model.use_adapters"] == "false"
    assert pose.tags["pevl.vs_previous"] == "model.use_pose=true"
    assert full.tags["pevl.changes"] == "none (the base config)" and not any(k.startswith("row.") for k in full.params)
    assert full.tags["pevl.vs_previous"] == "model.use_adapters=true"
    assert full.params["model.use_pose"] == "True" and "test/top1" in full.metrics  # the whole config stays
    table = (tmp_path / "work").rglob("comparison.md")
    text = next(table).read_text()
    assert "| changes vs previous | changes vs base |" in text
    assert "| baseline |" in text and "|  | model.use_pose=false, model.use_adapters=false |" in text
    assert "| model.use_pose=true | model.use_adapters=false |" in text  # plus_pose: what it adds, what it lacks
    assert "| model.use_adapters=true | none (the base config) |" in text

    # a second grid reusing the trained rows: its child runs (pointing at the originals) carry the fields too
    again = tiny_config(tmp_path, ["train.epochs=1", f"tracking.uri={uri}", "tracking.log_checkpoint=false",
                                   "tracking.log_model=false", "tracking.register=null",
                                   f"grid.file={_grid_file(tmp_path, 'pair', ROWS[1:])}"])
    reused = children(run_grid(again).info["mlflow_run_id"])
    assert reused["plus_pose"].tags["reused_run_id"] and "pevl.vs_previous" not in reused["plus_pose"].tags
    assert reused["plus_pose"].params["row.model.use_adapters"] == "false"
    assert reused["full"].tags["pevl.vs_previous"] == "model.use_adapters=true"
