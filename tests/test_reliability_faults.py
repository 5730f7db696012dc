"""System faults are not bad input: an unwritable output folder, a lost upstream file or an unwritable
work dir stops the stage with exit 2 and one line naming the path; the stage is not marked
complete, nothing becomes a reject, and the rerun after the fix completes with every clip.

The tests run as root in CI, where chmod does not stop writes: the folders are made unwritable by
putting a regular file (or a folder) where the stage expects the other, which fails for root too.
"""

import errno
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures_data import good_records, record, write_config, write_diving48
from pevl import paths
from pevl.cli import main
from pevl.datasets import make_key
from pevl.storage.faults import SystemFault, fault, is_resource_error
from pevl.stages.decode import DecodeJob, decode_clip_job
from pevl.storage.tables import read_table
from schemas import ClipRecord, load_config

ROOT = Path(__file__).resolve().parents[1]
CLIPS = 8 + 2


def _config(tmp_path: Path) -> Path:
    return write_config(tmp_path, write_diving48(tmp_path / "d48", good_records(8), [record("t1", 1), record("t2", 2)]))


def _error_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


def test_an_unwritable_decode_folder_stops_the_run_and_the_rerun_completes(tmp_path, caplog, capsys):
    config = _config(tmp_path)
    cfg = load_config(config)
    clips = paths.decode_dir(cfg) / "clips"
    clips.parent.mkdir(parents=True)
    clips.write_text("a regular file where decode's clips folder should be")
    assert main(["run", str(config)]) == 2
    errors = _error_lines(caplog)
    assert len(errors) == 1 and str(clips) in errors[0] and "\n" not in errors[0], errors
    assert "Traceback" not in caplog.text
    assert not (paths.decode_dir(cfg) / "_COMPLETE").exists()
    assert not list(paths.decode_dir(cfg).glob("rejects/*.json"))  # no clip was blamed

    clips.unlink()  # the fix
    capsys.readouterr()
    assert main(["run", str(config)]) == 0
    assert f"records = samples + rejects: {CLIPS} = {CLIPS} + 0 (ok)" in capsys.readouterr().out


def test_a_write_failing_mid_decode_stops_it_and_the_rerun_resumes(tmp_path, caplog, capsys):
    config = _config(tmp_path)
    cfg = load_config(config)
    assert main(["run", str(config), "--stages", "ingest"]) == 0
    keys = sorted(make_key(c.clip_id) for c in read_table(paths.index_dir(cfg) / "clips.parquet", ClipRecord))
    blocked = paths.decode_dir(cfg) / "clips" / f"{keys[4]}.mp4"
    blocked.mkdir(parents=True)  # a folder where the clip's file must go: the rename into place fails
    assert main(["run", str(config)]) == 2
    errors = _error_lines(caplog)
    assert len(errors) == 1 and str(blocked) in errors[0] and "system fault" in errors[0], errors
    out = paths.decode_dir(cfg)
    assert not (out / "_COMPLETE").exists() and not list(out.glob("rejects/*.json"))
    done = len(list(out.glob("clips/*.json")))
    assert 0 < done < CLIPS

    blocked.rmdir()
    caplog.clear()
    caplog.set_level(logging.INFO)
    capsys.readouterr()
    assert main(["run", str(config)]) == 0
    assert f"resuming, {done} of {CLIPS} clips already done" in caplog.text
    assert f"records = samples + rejects: {CLIPS} = {CLIPS} + 0 (ok)" in capsys.readouterr().out


def test_an_encoder_that_cannot_open_its_file_is_a_system_fault_not_a_reject(tmp_path):
    video = write_diving48(tmp_path / "d48", good_records(1), [])
    clip = ClipRecord(clip_id="clip00", dataset="diving48", split="train", label=0, source="rgb/clip00.mp4",
                      start_frame=0, end_frame=24, fps=25.0)
    out = tmp_path / "decoded"
    (out / "rejects").mkdir(parents=True)
    (out / "clips").write_text("not a folder")  # OpenCV cannot open a mp4v writer there (root too)
    job = DecodeJob(clip.model_dump(), "clip00", str(video), str(out),
                    {"frames": 4, "short_side": 32, "codec": "mp4v"})
    with pytest.raises(SystemFault, match="cannot write .*clips/.clip00"):
        decode_clip_job(job)
    assert not list((out / "rejects").iterdir())


def test_a_lost_upstream_file_stops_shard_and_the_rerun_recomputes_it(tmp_path, caplog, capsys):
    config = _config(tmp_path)
    cfg = load_config(config)
    assert main(["run", str(config), "--stages", "ingest,decode,poses"]) == 0
    lost = sorted((paths.poses_dir(cfg) / "clips").glob("*.pose.npy"))[3]
    lost.unlink()
    assert main(["run", str(config), "--stages", "shard"]) == 2
    assert str(lost) in _error_lines(caplog)[0]
    assert not (paths.shards_dir(cfg) / "_COMPLETE").exists()

    caplog.clear()
    capsys.readouterr()
    assert main(["run", str(config)]) == 0  # poses notices its marker no longer matches and recomputes
    assert "stage poses: the complete output" in caplog.text and "recomputing" in caplog.text
    assert f"records = samples + rejects: {CLIPS} = {CLIPS} + 0 (ok)" in capsys.readouterr().out


@pytest.mark.parametrize("where", ["under_a_file", "procfs"])
def test_an_unwritable_work_dir_is_one_line_and_exit_2(tmp_path, where):
    if where == "procfs":
        work = Path("/proc/pevl-work")  # procfs: no one can create a folder there, root included
    else:
        (tmp_path / "afile").write_text("x")
        work = tmp_path / "afile" / "work"
    config = _config(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "pevl.cli", "run", str(config), "--set", f"work_dir={work}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "ERROR" in lines[0] and str(work) in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_errnos_of_the_machine_are_told_from_those_of_an_input(tmp_path):
    with pytest.raises(OSError) as full:  # a real ENOSPC: /dev/full refuses every write
        with open("/dev/full", "wb") as f:
            f.write(b"x")
            f.flush()
    assert full.value.errno == errno.ENOSPC and is_resource_error(full.value)
    message = str(fault("decode", "cannot write", "/data/x.mp4", full.value))
    assert message.startswith("decode: cannot write /data/x.mp4: [Errno 28] No space left on device")
    with pytest.raises(OSError) as missing:
        (tmp_path / "nope.mp4").read_bytes()
    assert not is_resource_error(missing.value)  # a missing input video is the input's fault
