"""What the MLflow UI shows, checked against a real `mlflow server` through MlflowClient: the
experiment kind tag (the UI opens on training runs), each run's dataset inputs (the Datasets column
names the shards) and the grid parent's comparison files."""

import json

import pytest
import yaml

from train_fixtures import migrated_mlflow_uri, tiny_config, write_fixture_shards  # noqa: F401 (fixture mlflow_uri)

pytestmark = pytest.mark.slow  # a real server and two tiny training runs: tens of seconds

KIND = ("mlflow.experimentKind", "custom_model_development")


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory, mlflow_uri):
    """A 2-row grid (1 epoch) run against the server: (cfg, StageResult)."""
    from pevl.grid.stage import run_grid

    tmp = tmp_path_factory.mktemp("grid")
    grid = tmp / "grid.yaml"
    grid.write_text(yaml.safe_dump({"name": "ui", "runs": [{"name": "no_pose", "set": {"model.use_pose": False}},
                                                           {"name": "pevl", "set": {}}]}))
    cfg = tiny_config(tmp, ["train.epochs=1", f"tracking.uri={mlflow_uri}", f"grid.file={grid}",
                            "tracking.log_checkpoint=false", "tracking.experiment=ui-grid"])
    write_fixture_shards(cfg)
    return cfg, run_grid(cfg)


def test_a_new_experiment_is_a_training_experiment(grid_run, mlflow_uri):
    from mlflow.tracking import MlflowClient

    exp = MlflowClient(mlflow_uri).get_experiment_by_name("ui-grid")
    assert exp.tags.get(KIND[0]) == KIND[1]


def test_an_existing_experiment_without_the_tag_gets_it(tmp_path, mlflow_uri):
    from mlflow.tracking import MlflowClient

    from pevl.tracking.runs import start_run

    client = MlflowClient(mlflow_uri)
    exp_id = client.create_experiment("made-elsewhere")  # as an older PeVL (or a user) made it
    assert KIND[0] not in client.get_experiment(exp_id).tags
    cfg = tiny_config(tmp_path, [f"tracking.uri={mlflow_uri}", "tracking.experiment=made-elsewhere"])
    start_run(cfg, "late").end()
    assert client.get_experiment(exp_id).tags.get(KIND[0]) == KIND[1]


def test_each_child_run_records_the_shard_splits_it_trained_and_was_tested_on(grid_run, mlflow_uri):
    from mlflow.tracking import MlflowClient

    from pevl import paths
    from pevl.tracking.inputs import split_digest

    cfg, result = grid_run
    client = MlflowClient(mlflow_uri)
    exp = client.get_experiment_by_name("ui-grid")
    children = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{result.info['mlflow_run_id']}'")
    assert len(children) == 2
    shards = paths.shards_dir(cfg).resolve()
    for child in children:
        inputs = {i.tags[0].value: i.dataset for i in client.get_run(child.info.run_id).inputs.dataset_inputs}
        assert set(inputs) == {"training", "evaluation"}  # the fixture has no val split
        for context, split in (("training", "train"), ("evaluation", "test")):
            ds = inputs[context]
            assert ds.name == f"synthdive-{split} shards/{shards.name}"
            assert ds.digest == split_digest(shards, split)
            assert json.loads(ds.source) == {"uri": str(shards / "manifest.parquet")}
            assert json.loads(ds.profile)["samples"] == {"train": 16, "test": 8}[split]


def test_the_grid_parent_keeps_table_csv_and_chart(grid_run, mlflow_uri):
    from mlflow.tracking import MlflowClient

    _, result = grid_run
    names = {a.path for a in MlflowClient(mlflow_uri).list_artifacts(result.info["mlflow_run_id"])}
    assert {"comparison.md", "comparison.csv", "comparison.png"} <= names


def test_the_digest_follows_the_recorded_tar_hashes(tmp_path):
    from pevl.storage.outputs import MARKER
    from pevl.tracking.inputs import split_digest

    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "a-000000.tar").write_bytes(b"x" * 10)
    (tmp_path / "manifest.parquet").write_bytes(b"m")
    marker = {"outputs": {"files": {"train/a-000000.tar": {"bytes": 10, "sha256": "1" * 64},
                                    "manifest.parquet": {"bytes": 1, "sha256": "2" * 64}}}}
    (tmp_path / MARKER).write_text(json.dumps(marker))
    first = split_digest(tmp_path, "train")
    marker["outputs"]["files"]["train/a-000000.tar"]["sha256"] = "3" * 64
    (tmp_path / MARKER).write_text(json.dumps(marker))
    assert split_digest(tmp_path, "train") != first
    assert split_digest(tmp_path, "test") != first  # a split without tars: the manifest alone
