"""`pevl watch FLOW_RUN_ID`: a flow run told by its own lines, read through Prefect's client.

The view is checked on the lines the pipeline's own code writes (flows/logs.py, pevl.progress),
then the real command follows real flow runs (tests/watch_flows.py) on a real Prefect server:
stage lines with counts, a progress line every 10% when stdout is not a terminal, epochs and grid
rows from a subflow, no Prefect bookkeeping, exit code 0 on Completed and 1 on Failed.
"""

import io
import logging
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from flows.logs import grid_row_line, plan_line, stage_done_line, stage_started_line
from pevl.console import LiveLines
from pevl.progress import LogProgress, ProgressLine, parse_progress
from pevl.services import servers as services
from pevl.services.watch_view import LogEntry, WatchView
from schemas import StageResult, load_config
from servers import client_env, prefect_server

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def entry(message: str, seconds: float, source: str = "", level: int = logging.INFO) -> LogEntry:
    return LogEntry(T0 + timedelta(seconds=seconds), level, "pevl", message, source, T0 if source else None)


def view_of(tty: bool) -> tuple[WatchView, io.StringIO]:
    out = io.StringIO()
    view = WatchView(LiveLines(out, tty=tty))
    view.start = T0
    return view, out


def progress_messages(total: int, desc: str, unit: str, caplog) -> list[str]:
    """What LogProgress logs for `total` updates (one line per 5%, no time limit)."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pevl.progress"), \
            LogProgress(total=total, desc=desc, unit=unit, min_interval=0.0) as bar:
        for _ in range(total):
            bar.update()
    return list(caplog.messages)


def test_progress_lines_read_back_as_they_were_written():
    for line in (ProgressLine("decode", 40, 100, "clip", 3.2, 19.0),
                 ProgressLine("epoch 3/8", 10, 10, "batch", 2.5, None, 4.0, "loss=0.500"),
                 ProgressLine("val (test)", 3, None, "batch", 1.5)):
        assert parse_progress(line.message()) == line
    assert parse_progress("stage decode: starting") is None


def test_the_view_tells_stages_progress_epochs_and_rows_off_a_terminal(caplog):
    view, out = view_of(tty=False)
    cfg = load_config(ROOT / "configs/demo.yaml")
    decoded = StageResult(stage="decode", output="/w/d", config_hash="h", counts={"clips": 40, "rejects": 2},
                          seconds=65.0)
    view.entry(entry(plan_line(cfg, ["decode", "train", "grid"], []), 0))
    view.entry(entry(stage_started_line("decode"), 1))
    for i, message in enumerate(progress_messages(40, "decode", "clip", caplog)):
        view.entry(entry(message, 2 + i, "decode"))
    for message in progress_messages(20, "epoch 1/4", "batch", caplog):  # steps inside an epoch: not off a terminal
        view.entry(entry(message, 30, "train"))
    view.entry(entry(stage_done_line("decode", "ran", decoded), 66))
    view.entry(entry("epoch 1/4: train_epoch/total=3.8123, train_epoch/lr=0.0100", 90, "train"))
    view.entry(entry("epoch 4/4: train_epoch/total=3.1000, val/top1=0.4250", 120, "train"))
    view.entry(entry(stage_started_line("grid"), 200))
    view.entry(entry(grid_row_line(1, 4, "plus_pose", 0, "ran", {"test/top1": 0.148}, 100.0), 300))
    view.entry(entry(grid_row_line(2, 4, "plus_ucmr", 0, "failed", {}, 0.0, "RuntimeError: out of memory"), 310))
    view.entry(entry("Finished in state Completed()", 311, level=logging.INFO))
    view.entry(entry("no 'val' split in /w: evaluating on 'test' each epoch", 312, level=logging.WARNING))
    lines = out.getvalue().splitlines()
    assert lines[0] == "00:00  plan: demo on synthdive, stages decode, train, grid; grid components, 2 rows at a time; " \
                       "work dir work/demo"
    assert lines[1] == "00:01  decode: started"
    percents = [int(m[1]) for line in lines if (m := re.search(r"decode: (\d+)% \(", line))]
    assert percents == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]  # every 10%, then the final line
    assert not any("epoch 1/4: " in line and "batch" in line for line in lines)
    assert "01:06  decode: ran in 1 min 05 s | clips 40, rejects 2" in lines
    assert "01:30  train: epoch 1/4: loss 3.812, 90 s/epoch, eta 4 min 30 s" in lines
    assert "02:00  train: epoch 4/4: loss 3.100, val top-1 42.5%, 30 s/epoch" in lines
    assert "05:00  grid row 1/4: plus_pose (seed 0) ran in 100 s, test top-1 14.8% (grid eta 5 min 00 s)" in lines
    assert "05:10  grid row 2/4: plus_ucmr (seed 0) failed: RuntimeError: out of memory (grid eta 1 min 50 s)" in lines
    assert lines[-1] == "05:12  WARNING: no 'val' split in /w: evaluating on 'test' each epoch"
    assert not any("Finished in state" in line for line in lines)


def test_on_a_terminal_progress_is_a_bar_redrawn_in_place(caplog):
    view, out = view_of(tty=True)
    messages = progress_messages(20, "decode", "clip", caplog)
    view.entry(entry(messages[5], 5, "decode"))
    assert "decode  [" in out.getvalue() and "30%  6/20 clip" in out.getvalue()
    view.entry(entry(messages[-1], 9, "decode"))  # the final line: the bar goes, a lasting line stays
    view.entry(entry(stage_started_line("poses"), 10))
    text = out.getvalue()
    assert "\x1b[1F\x1b[J" in text  # the bar was erased before the lasting lines
    assert text.rstrip("\n").splitlines()[-1] == "00:10  poses: started"
    assert "00:09  decode: 100% (20/20 clip" in text


@pytest.fixture(scope="module")
def prefect(tmp_path_factory) -> dict[str, str]:
    """A real Prefect server; the env of a client that uses it and sends the pipeline's loggers' lines."""
    state = tmp_path_factory.mktemp("watch-state")
    with prefect_server(state) as rec:
        yield client_env(rec, None, state)


def start_flow(env: dict[str, str], *args: str) -> tuple[subprocess.Popen, str]:
    """tests/watch_flows.py in its own process; (the process, its flow run id)."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests/watch_flows.py"), *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert first.startswith("flow-run-id: "), first + proc.stderr.read()
    return proc, first.split(": ", 1)[1].strip()


def watch(env: dict[str, str], flow_run_id: str) -> subprocess.CompletedProcess:
    """The real `pevl watch`, stdout a pipe (not a terminal)."""
    return subprocess.run([services.console_script("pevl"), "watch", flow_run_id], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_watch_follows_a_running_flow_to_its_end(prefect, tmp_path):
    go = tmp_path / "go"
    flow, run_id = start_flow(prefect, "--go", str(go))  # the run waits for `go`: the watch sees it from its start
    err_file = tmp_path / "watch.err"
    with err_file.open("w") as err_out, subprocess.Popen(
            [services.console_script("pevl"), "watch", run_id], env=prefect, cwd=ROOT, stdout=subprocess.PIPE,
            stderr=err_out, text=True) as proc:
        first = proc.stdout.readline()
        go.touch()
        # read on through the same buffered reader: communicate() would read the pipe beneath it and
        # lose the lines readline() had already buffered
        rest = proc.stdout.read()
        proc.wait(timeout=300)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, first + rest, err_file.read_text())
    flow.communicate(timeout=120)
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and flow.returncode == 0, done.stdout + done.stderr
    assert lines[0].startswith("Flow run '") and lines[0].endswith("of flow watch-story")
    assert f"  UI:     {prefect['PREFECT_API_URL'].removesuffix('/api')}/runs/flow-run/{run_id}" in lines
    text = "\n".join(lines)
    assert "flow run running" in text  # followed while it ran, not read back afterwards
    for said in ("plan: demo on synthdive, stages ingest, decode, grid", "ingest: reused its complete output | clips 40",
                 "decode: started", "decode: ran in 2 s | clips 40, decoded 38, rejects 2",
                 "baseline seed 0: epoch 2/2: loss 3.700, val top-1 10.0%",
                 "grid row 1/2: baseline (seed 0) ran in 0 s, test top-1 10.0%",
                 "grid row 2/2: plus_pose (seed 0) ran in 0 s, test top-1 20.0%"):
        assert said in text
    percents = [int(m[1]) for line in lines if (m := re.search(r"  decode: (\d+)% \(", line))]
    assert percents == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert re.fullmatch(r"\d\d:\d\d  flow run completed in \d+ s", lines[-1])
    assert set(UUID.findall(text)) == {run_id}  # no task, artifact or event ids
    assert not re.search(r"heartbeat|artifact|Finished in state|prefect\.", text, re.IGNORECASE)


def test_watch_of_a_failed_run_exits_1_with_the_error(prefect):
    flow, run_id = start_flow(prefect, "--fail")
    flow.communicate(timeout=120)
    done = watch(prefect, run_id)  # the run has ended: its story is read back from the start
    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "decode: started" in "\n".join(lines) and "decode: ran" not in "\n".join(lines)
    assert any(line.endswith("ERROR: Task run failed with exception: RuntimeError('decode: the disk is full')")
               for line in lines)
    assert re.fullmatch(r"\d\d:\d\d  flow run failed in \d+ s", lines[-1])


def test_an_unknown_flow_run_is_one_line_and_exit_2(prefect):
    done = watch(prefect, "00000000-0000-0000-0000-000000000000")
    assert done.returncode == 2
    assert "no flow run 00000000-0000-0000-0000-000000000000 on the Prefect server at" in done.stderr
    assert "Traceback" not in done.stderr
