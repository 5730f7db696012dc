"""A `pevl run` killed with SIGKILL during decode or during shard, then run again, ends with shards
byte-identical to an uninterrupted run and no partial tar visible.

The kill is deterministic: a driver subprocess wraps one stage function so that the process sends
itself SIGKILL after N calls (mid-decode: after 3 clips; mid-shard: inside the second tar), then runs
the real CLI. Nothing is mocked: the process really dies with files half written.
"""

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures_data import good_records, record, write_config, write_diving48
from pevl import paths
from pevl.cli import main
from pevl.shards import verify_shards
from schemas import load_config

ROOT = Path(__file__).resolve().parents[1]
DRIVER = """
import importlib, os, signal, sys
owner = importlib.import_module("{module}")
for part in "{owner}".split(".")[:-1]:
    owner = getattr(owner, part)
attr = "{owner}".split(".")[-1]
original, calls = getattr(owner, attr), [0]
def dying(*args, **kwargs):
    calls[0] += 1
    if calls[0] > {after}:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(*args, **kwargs)
setattr(owner, attr, dying)
from pevl.cli import main
sys.exit(main(["run", sys.argv[1]]))
"""
# stage -> (module, function to wrap, calls that complete before the kill)
KILLS = {
    "decode": ("pevl.stages.decode", "decode_clip_job", 3),
    # max_samples 3: the 5th sample goes into the second tar, which is then half written
    "shard": ("pevl.shards.writer", "ShardWriter.write", 4),
}


def _dataset(tmp_path: Path) -> Path:
    return write_diving48(tmp_path / "d48", good_records(8), [record("t1", 1), record("t2", 2)])


def _tars(cfg) -> dict[str, bytes]:
    folder = paths.shards_dir(cfg)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.tar"))}


@pytest.mark.parametrize("stage", ["decode", "shard"])
def test_killed_run_resumes_to_identical_shards(tmp_path, stage):
    root = _dataset(tmp_path)
    (tmp_path / "clean").mkdir(), (tmp_path / "killed").mkdir()
    clean = write_config(tmp_path / "clean", root)
    assert main(["run", str(clean)]) == 0
    expected = _tars(load_config(clean))

    module, owner, after = KILLS[stage]
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(module=module, owner=owner, after=after))
    config = write_config(tmp_path / "killed", root)
    proc = subprocess.run([sys.executable, str(driver), str(config)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]

    cfg = load_config(config)
    if stage == "decode":
        assert len(list((paths.decode_dir(cfg) / "clips").glob("*.json"))) == 3
        assert not (paths.decode_dir(cfg) / "_COMPLETE").exists()
    else:
        shards = paths.shards_dir(cfg)
        partial = [p.name for p in shards.rglob("*.tar.*.tmp")]  # <name>.tar.<pid>.tmp
        assert len(partial) == 1 and partial[0].startswith("diving48-train-000001.tar."), partial
        assert [p.name for p in shards.rglob("*.tar")] == ["diving48-train-000000.tar"]

    assert main(["run", str(config)]) == 0
    assert _tars(cfg) == expected
    assert not list(paths.shards_dir(cfg).rglob("*.tmp"))
    assert verify_shards(paths.shards_dir(cfg))[1] == []
