"""Config loading, validation messages, overrides, and the no-heavy-imports rule of `schemas`."""

import subprocess
import sys
from pathlib import Path

import pytest

from schemas import ConfigError, PipelineConfig, apply_overrides, config_hash, flatten, load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def test_import_schemas_loads_no_torch_or_prefect():
    code = "import sys, schemas; bad=[m for m in ('torch','prefect','mlflow','open_clip') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_validates(path):
    cfg = load_config(path)
    assert isinstance(cfg, PipelineConfig)


def test_unknown_key_is_rejected_with_field_name(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  adapter:\n    bottlenek: 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(bad)
    msg = str(e.value)
    assert str(bad) in msg and "model.adapter.bottlenek" in msg


def test_bad_value_is_rejected_with_field_name(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: -1\ndataset:\n  name: kinetics\n")
    with pytest.raises(ConfigError) as e:
        load_config(bad)
    msg = str(e.value)
    assert "train.epochs" in msg and "dataset.name" in msg


def test_overrides_apply_and_are_validated():
    cfg = load_config(ROOT / "configs/demo.yaml", ["train.epochs=7", "model.sgmc.use_s_fw=false"])
    assert cfg.train.epochs == 7 and cfg.model.sgmc.use_s_fw is False
    with pytest.raises(ConfigError, match="train.epochz"):
        load_config(ROOT / "configs/demo.yaml", ["train.epochz=7"])
    with pytest.raises(ConfigError, match="key.path=value"):
        load_config(ROOT / "configs/demo.yaml", ["train.epochs"])


def test_override_into_scalar_is_an_error():
    with pytest.raises(ConfigError, match="not a section"):
        apply_overrides({"a": 1}, ["a.b=2"])


def test_missing_and_malformed_files_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="broken.yaml"):
        load_config(broken)


def test_config_hash_is_stable_and_sensitive():
    a = load_config(ROOT / "configs/demo.yaml")
    b = load_config(ROOT / "configs/demo.yaml")
    assert config_hash(a.decode) == config_hash(b.decode)
    b.decode.frames = 12
    assert config_hash(a.decode) != config_hash(b.decode)


def test_flatten_gives_dotted_keys():
    flat = flatten(PipelineConfig().model_dump(mode="json"))
    assert flat["model.ucmr.use_p2v"] is True and flat["train.epochs"] == 10
