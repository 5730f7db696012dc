"""A config error from flow parameters becomes the run summary (the e2e test runs it through Prefect)."""

from pathlib import Path

import pytest

from flows.pipeline import resolve_config
from flows.summary import config_error_record, summary_markdown
from schemas import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_config_error_summary_names_the_field_and_says_no_stage_ran(tmp_path):
    cfg = load_config(ROOT / "configs/demo.yaml", [f"work_dir={tmp_path}"])
    with pytest.raises(ConfigError) as e:
        resolve_config(cfg, {"train.lr": -1})
    record = config_error_record(cfg, str(e.value), {"prefect.flow_run_name": "brave-otter"})
    md = summary_markdown(record)
    assert record["stages"] == {} and "train.lr" in record["config_error"]
    assert "## Config error" in md and "no stage ran" in md and "train.lr" in md
    assert "## Stages" not in md
