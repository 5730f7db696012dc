"""A grid's `study` section (pevl/grid/study.py): the condition x variant table with standard errors and
paired gains, the curves PNG, the checks of a study against its rows, and both files on the parent run
of a real (tiny) grid."""

import math
from pathlib import Path

import pytest
import yaml

from pevl.grid.rows import GridRow
from pevl.grid.spec import load_grid
from pevl.grid.study import cells, mean_se, paired, study_markdown, write_study
from schemas import ConfigError
from train_fixtures import sqlite_uri, tiny_config, write_fixture_shards

STUDY = {"variants": ["full", "no_pose"],
         "axes": [{"label": "jitter (px)", "field": "poses.ground_truth.jitter_px", "conditions": ["gt", "j4"]}],
         "references": ["det"],
         "gains": [{"name": "pose helps", "plus": "full", "minus": "no_pose"}]}
RUNS = [{"name": "gt/full", "set": {"poses.ground_truth.jitter_px": 0.0}},
        {"name": "gt/no_pose", "set": {"poses.ground_truth.jitter_px": 0.0, "model.use_pose": False}},
        {"name": "j4/full", "set": {"poses.ground_truth.jitter_px": 4.0}},
        {"name": "det/full", "set": {"poses.backend": "rtmlib"}}]


def _spec(tmp_path: Path, runs=RUNS, study=STUDY) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "runs": runs, "study": study}))
    return path


def _row(name: str, by_seed: dict[int, float]) -> GridRow:
    return GridRow(name, {}, [{"test/top1": v} for v in by_seed.values()], ["id"] * len(by_seed), 1.0,
                   seeds=list(by_seed))


def test_the_study_table_gives_means_standard_errors_borrowed_variants_and_paired_gains(tmp_path):
    spec = load_grid(_spec(tmp_path))
    rows = [_row("gt/full", {0: 0.50, 1: 0.60}), _row("gt/no_pose", {0: 0.20, 1: 0.40}),
            _row("j4/full", {1: 0.30, 0: 0.26}), _row("det/full", {0: 0.10})]
    table = cells(spec.study, rows)
    assert table["j4", "no_pose"].borrowed and table["j4", "no_pose"].row == "gt/no_pose"
    assert table["j4", "full"].values == [0.26, 0.30]  # ordered by seed, not by finishing order
    m, se = mean_se([0.5, 0.6])
    assert math.isclose(m, 0.55) and math.isclose(se, 0.05)
    assert paired(table["j4", "full"], table["gt", "no_pose"]) == pytest.approx([0.06, -0.10])
    md = study_markdown("t", spec, rows)
    lines = {line.split(" | ")[0].strip("| "): line for line in md.splitlines() if line.startswith("| ")}
    assert lines["gt"] == "| gt | 0.0 | 55.0 ± 5.0 | 30.0 ± 10.0 | +25.0 ± 5.0 |"
    assert lines["j4"] == "| j4 | 4.0 | 28.0 ± 2.0 | 30.0 ± 10.0* | -2.0 ± 8.0 |"
    assert lines["det"] == "| det |  | 10.0 | 30.0 ± 10.0* | -10.0 |"  # one shared seed: no standard error
    assert "no_pose from gt/no_pose" in md and "2 seed(s)" in md
    files = write_study("t", spec, rows, tmp_path / "out")
    png = files["study_chart"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert files["study"].read_text() == md


@pytest.mark.parametrize("change, message", [
    ({"references": ["nowhere"]}, "condition 'nowhere' has no row"),
    ({"variants": ["full", "no_pose", "no_refine"]}, "variant 'no_refine' has no row"),
    ({"gains": [{"name": "g", "plus": "full", "minus": "other"}]}, "'other' is not a variant"),
])
def test_a_study_that_names_rows_the_grid_lacks_is_refused_naming_the_file(tmp_path, change, message):
    path = _spec(tmp_path, study={**STUDY, **change})
    with pytest.raises(ConfigError, match=message) as err:
        load_grid(path)
    assert str(path) in str(err.value)


def test_a_study_row_that_does_not_set_its_axis_field_is_refused(tmp_path):
    runs = [*RUNS[:2], {"name": "j4/full", "set": {"train.lr": 0.1}}, RUNS[3]]
    with pytest.raises(ConfigError, match="row 'j4/full' does not set poses.ground_truth.jitter_px"):
        load_grid(_spec(tmp_path, runs=runs))


def test_a_real_grid_with_a_study_logs_the_table_and_curves_on_its_parent_run(tmp_path, tmp_path_factory):
    import mlflow

    from pevl.grid.stage import run_grid

    study = {"variants": ["pose", "video"],
             "axes": [{"label": "learning rate", "field": "train.lr", "conditions": ["lo", "hi"]}]}
    runs = [{"name": f"{c}/{v}", "set": {"train.lr": lr, "model.use_pose": v == "pose"}}
            for c, lr in (("lo", 0.001), ("hi", 0.01)) for v in ("pose", "video")]
    uri = sqlite_uri(tmp_path_factory, tmp_path)
    cfg = tiny_config(tmp_path, ["train.epochs=1", f"grid.file={_spec(tmp_path, runs, study)}",
                                 f"tracking.uri={uri}", "tracking.log_checkpoint=false"])
    write_fixture_shards(cfg)
    result = run_grid(cfg)
    md = Path(result.info["study"]).read_text()
    assert "| lo | 0.001 |" in md and "| hi | 0.01 |" in md
    client = mlflow.MlflowClient(tracking_uri=uri)
    names = {a.path for a in client.list_artifacts(result.info["mlflow_run_id"])}
    assert {"study.md", "study.png", "comparison.md"} <= names
