"""Progress output: a line every few percent in logs (no carriage returns), a tqdm bar on terminals."""

import io
import logging
import subprocess
import sys

import pytest

from pevl import progress as progress_mod
from pevl.progress import LogProgress, progress


class Lines:
    """The messages logged so far (read at each access)."""

    def __init__(self, caplog: pytest.LogCaptureFixture):
        self.caplog = caplog

    def __len__(self) -> int:
        return len(self.caplog.messages)

    def __getitem__(self, i: int) -> str:
        return self.caplog.messages[i]

    def __iter__(self):
        return iter(self.caplog.messages)


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Lines:
    caplog.set_level(logging.INFO, logger="pevl.progress")
    return Lines(caplog)


def test_log_progress_writes_one_line_per_step(lines: Lines) -> None:
    with LogProgress(total=1000, desc="shard", unit="clip", min_interval=0.0) as bar:
        for _ in range(1000):
            bar.update()
    # 19 intermediate lines (5%, 10% ... 95%) and one final line, not one per update
    assert len(lines) == 20
    assert lines[0].startswith("shard: 5% (50/1000 clip")
    assert "eta" in lines[0]
    assert lines[-1].startswith("shard: 100% (1000/1000 clip") and "eta" not in lines[-1]
    assert not any("\r" in line for line in lines)


def test_log_progress_wraps_an_iterable_and_shows_postfix(lines: Lines) -> None:
    bar = LogProgress(range(10), desc="epoch 1/2", unit="batch", step=50, min_interval=0.0)
    seen = []
    for i in bar:
        seen.append(i)
        bar.set_postfix(loss="0.500")
    assert seen == list(range(10))
    assert len(lines) == 2  # 50% and the final line
    assert lines[-1].startswith("epoch 1/2: 100% (10/10 batch") and "loss=0.500" in lines[-1]
    bar.close()
    assert len(lines) == 2  # closing twice logs nothing more


def test_a_fast_bar_logs_only_its_final_line(lines: Lines) -> None:
    with LogProgress(total=100, desc="epoch 3/10", unit="batch") as bar:  # default min_interval 5 s
        for _ in range(100):
            bar.update()
    assert len(lines) == 1 and lines[0].startswith("epoch 3/10: 100% (100/100 batch")


def test_unknown_total_logs_by_time(lines: Lines, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(float(t) for t in range(0, 1000, 10))
    monkeypatch.setattr(progress_mod.time, "monotonic", lambda: next(clock))
    bar = LogProgress(desc="eval", unit="batch", interval=30.0)  # starts at t=0
    for _ in range(9):  # t = 10 ... 90
        bar.update()
    bar.close()
    assert lines[0].startswith("eval:  (3 batch")  # first line after 30 s, no percentage
    assert len(lines) == 4  # t=30, 60, 90 and the final "done" line
    assert lines[-1].startswith("eval: done (9 batch")


def test_progress_picks_log_lines_off_a_terminal_and_tqdm_on_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from tqdm import tqdm

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert isinstance(progress(total=3), LogProgress)

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Tty())
    bar = progress(total=3, desc="x")
    assert isinstance(bar, tqdm)
    bar.close()
    disabled = progress(total=3, disable=True)
    assert disabled.disable


def test_a_command_logging_to_a_file_has_no_carriage_returns(tmp_path) -> None:
    """Real `pevl synth` (12 clips, one worker) with stderr to a file: a few lines, no '\\r' spam."""
    log_file = tmp_path / "synth.log"
    with log_file.open("w") as err:
        subprocess.run([sys.executable, "-m", "pevl.cli", "synth", "--out", str(tmp_path / "ds"),
                        "--clips-per-class", "2", "--size", "64x48", "--workers", "1",
                        ],
                       check=True, stderr=err, stdout=subprocess.DEVNULL, timeout=300)
    text = log_file.read_text()
    assert "\r" not in text
    progress_lines = [line for line in text.splitlines() if "synthdive:" in line]
    assert progress_lines and len(progress_lines) <= 21  # at most one per 5%, and one per 5 s
    assert "100%" in progress_lines[-1]
