"""One writer per work dir: a second `pevl run` on the same work dir refuses (exit 2, naming the
holder's pid) or waits; two runs at once end with the tars of a single run and a true summary.

Real processes, real flock: the holder is a subprocess; the concurrent runs are two `pevl run` CLIs.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fixtures_data import good_records, record, write_config, write_diving48
from pevl import paths
from pevl.cli import main
from pevl.storage.lock import holder, lock_path, work_dir_lock
from pevl.shards import verify_shards
from schemas import load_config

ROOT = Path(__file__).resolve().parents[1]
HOLD = """
import sys, time
from pathlib import Path
from pevl.storage.lock import work_dir_lock
with work_dir_lock(Path(sys.argv[1])):
    Path(sys.argv[2]).write_text("held")
    time.sleep(float(sys.argv[3]))
"""


def _hold(tmp_path: Path, work: Path, seconds: float) -> subprocess.Popen:
    """A subprocess holding the work dir's lock for `seconds` (returns once it holds it)."""
    flag = tmp_path / f"held-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(work), str(flag), str(seconds)], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not flag.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the lock holder did not start"
        time.sleep(0.05)
    return proc


def _tars(cfg) -> dict[str, bytes]:
    folder = paths.shards_dir(cfg)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.tar"))}


def test_second_run_is_refused_naming_the_holders_pid(tmp_path, caplog):
    root = write_diving48(tmp_path / "d48", good_records(3), [record("t1", 1)])
    config = write_config(tmp_path, root)
    work = paths.work_dir(load_config(config))
    proc = _hold(tmp_path, work, 30)
    try:
        assert holder(work)["pid"] == proc.pid
        assert main(["run", str(config)]) == 2
        assert f"is in use by pid {proc.pid}" in caplog.text and "--wait SECONDS" in caplog.text
        assert not (work / "index" / "_COMPLETE").exists()  # the refused run wrote nothing
    finally:
        proc.kill()
        proc.wait()
    assert main(["run", str(config)]) == 0  # the kernel dropped the killed holder's lock


def test_a_waiting_run_starts_when_the_holder_ends(tmp_path, caplog):
    root = write_diving48(tmp_path / "d48", good_records(3), [record("t1", 1)])
    config = write_config(tmp_path, root)
    proc = _hold(tmp_path, paths.work_dir(load_config(config)), 2)
    assert main(["run", str(config), "--wait", "60"]) == 0
    assert proc.wait() == 0
    assert f"in use by pid {proc.pid}" in caplog.text and "waiting up to 60 s" in caplog.text


def test_the_lock_is_reentrant_in_one_process_and_released_after(tmp_path):
    work = tmp_path / "work"
    with work_dir_lock(work):
        with work_dir_lock(work):  # the flow holds it while its stage tasks take it again
            assert holder(work)["pid"] == os.getpid()
        assert holder(work)["pid"] == os.getpid()
    assert lock_path(work).read_text() == ""  # released: no stale holder named
    proc = _hold(tmp_path, work, 0)
    assert proc.wait() == 0


def test_two_concurrent_runs_end_with_the_outputs_of_one(tmp_path):
    root = write_diving48(tmp_path / "d48", good_records(12), [record("t1", 1), record("t2", 2)])
    (tmp_path / "single").mkdir(), (tmp_path / "both").mkdir()
    single = write_config(tmp_path / "single", root)
    assert main(["run", str(single)]) == 0
    expected = _tars(load_config(single))

    config = write_config(tmp_path / "both", root, decode={"workers": 2})
    cmd = [sys.executable, "-m", "pevl.cli", "run", str(config)]
    waiting = subprocess.Popen([*cmd, "--wait", "120"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    refusing = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = [(p, *p.communicate(timeout=300)) for p in (waiting, refusing)]
    for proc, out, err in runs:
        assert proc.returncode in (0, 2), err[-3000:]
        if proc.returncode == 2:  # started while the other held the work dir
            assert proc is refusing and "is in use by pid" in err and "Traceback" not in err
        else:  # whatever it ran or reused, its summary is true
            assert "records = samples + rejects: 14 = 14 + 0 (ok)" in out, out + err[-3000:]
    assert waiting.returncode == 0
    cfg = load_config(config)
    assert _tars(cfg) == expected
    assert verify_shards(paths.shards_dir(cfg)) == (14, [])
    summary = json.loads((paths.shards_dir(cfg) / "summary.json").read_text())
    assert summary["ok"] and summary["samples"] == 14 and summary["rejects"] == 0


def test_a_killed_holder_never_blocks_the_next_run(tmp_path):
    work = tmp_path / "work"
    proc = _hold(tmp_path, work, 60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with work_dir_lock(work, wait_s=5):
        assert holder(work)["pid"] == os.getpid()


def test_train_and_grid_commands_refuse_a_held_work_dir(tmp_path, caplog):
    from schemas import save_config
    from train_fixtures import tiny_config, write_fixture_shards

    cfg = tiny_config(tmp_path, ["train.epochs=1", "tracking.enabled=false"])
    write_fixture_shards(cfg, train_per_class=1, test_per_class=1)
    config = save_config(cfg, tmp_path / "tiny.yaml")
    proc = _hold(tmp_path, paths.work_dir(cfg), 60)
    try:
        assert main(["train", str(config)]) == 2
        assert main(["grid", str(config), "--grid", str(ROOT / "configs/ablations/components.yaml")]) == 2
        assert caplog.text.count(f"is in use by pid {proc.pid}") == 2
        assert not (paths.train_dir(cfg) / "last.pt").exists()  # the refused training wrote nothing
    finally:
        proc.kill()
        proc.wait()
