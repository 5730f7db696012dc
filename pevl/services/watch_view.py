"""What `pevl watch` prints of a flow run: the pipeline's own lines, read back into a short story.

Each log line of the run (and of its subflows) comes in as a `LogEntry` naming the task run it
came from. The view shows:
- the plan (`plan: ...`), each stage's start and end with its counts and seconds (flows/logs.py) and
  the model version a training run registers,
- progress lines (`pevl.progress.ProgressLine`): a live bar per task on a terminal; elsewhere a plain
  line each `step` percent and the final one (the bars of the steps inside an epoch or an evaluation,
  unit `batch`, and those of a stage's mapped batches, tasks named `*-batch`, only on a terminal),
- each training epoch (pevl/train/loop.py: `epoch 3/8: train_epoch/total=..., val/top1=...`) with
  seconds per epoch and the time left, each grid row as it ends with its test top-1 and the grid's time left,
- warnings and errors (first line; a traceback's last line), everything else only with `verbose`.
Prefect's own bookkeeping (task states, heartbeats, artifact events) is not shown.
"""

import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime

from pevl.console import LiveLines
from pevl.progress import ProgressLine, bar_text, duration, parse_progress

STAGE_START = re.compile(r"stage (?P<stage>\w+): starting")
STAGE_DONE = re.compile(r"stage (?P<stage>\w+): (?P<status>ran|cached|reused) \((?P<seconds>[\d.]+) s\)"
                        r"(?: \[(?P<facts>[^\]]*)\])? -> (?P<output>.*)")
EPOCH = re.compile(r"epoch (?P<k>\d+)/(?P<n>\d+): (?P<values>\S+=\S+(?:, \S+=\S+)*)")
GRID_ROW = re.compile(r"grid row (?P<k>\d+)/(?P<n>\d+): (?P<rest>.*)")
SHOWN_AS_IS = ("plan: ", "stages run: ", "MLflow registered model ")
STATUS_WORDS = {"cached": "cached, nothing recomputed", "reused": "reused its complete output"}


@dataclass(frozen=True)
class LogEntry:
    """One log line of a flow run.

    Attributes:
        source: the task run it came from ("train", "plus_pose seed 0"; "" for a flow itself).
        source_started: when that task run started (None when unknown).
    """

    timestamp: datetime
    level: int
    logger: str
    message: str
    source: str = ""
    source_started: datetime | None = None


def _first_lines(message: str) -> str:
    """A message's first line, plus its last one when it is a traceback (the exception)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if len(lines) > 1 and lines[1].startswith("Traceback") and lines[-1].partition(": ")[2] not in lines[0]:
        return f"{lines[0]} {lines[-1]}"
    return lines[0] if lines else ""


class WatchView:
    """Turns a flow run's states and log lines into lines on `out` (module doc).

    Args:
        out: where lines (and, on a terminal, the live bars) go.
        step: percent between two plain progress lines off a terminal.
        verbose: also show every other log line.
    """

    def __init__(self, out: LiveLines, step: float = 10.0, verbose: bool = False):
        self.out, self.step, self.verbose = out, step, verbose
        self.start: datetime | None = None  # the flow run's start: lines say the time since
        self.bars: dict[tuple[str, str], str] = {}  # (source, bar) -> the bar's text
        self.shown: dict[tuple[str, str], float] = {}  # (source, bar) -> percent last written (off a terminal)
        self.stage_started: dict[str, datetime] = {}

    def clock(self, when: datetime) -> str:
        """`mm:ss` since the run started (`h:mm:ss` past an hour); the time of day before it has."""
        if self.start is None:
            return when.astimezone().strftime("%H:%M:%S")
        seconds = max(0, round((when - self.start).total_seconds()))
        hours, rest = divmod(seconds, 3600)
        return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"

    def say(self, when: datetime, text: str) -> None:
        """One line, after the run's clock."""
        self.out.say(f"{self.clock(when)}  {text}")

    def header(self, name: str, run_id: str, what: str, url: str, stages: list[str] | None) -> None:
        """What is followed: the run, where to see it, which stages it runs."""
        self.out.say(f"Flow run {name!r} of {what}")
        self.out.say(f"  id:     {run_id}")
        self.out.say(f"  UI:     {url}")
        if stages is not None:
            self.out.say(f"  stages: {', '.join(stages) if stages else 'all'}")

    def state(self, when: datetime, name: str) -> None:
        """The run's state changed."""
        self.say(when, f"flow run {name.lower()}")

    def entry(self, e: LogEntry) -> None:
        """One log line: shown as its kind says (module doc), or not at all."""
        text = e.message.strip()
        if (line := parse_progress(text)) is not None:
            return self._progress(e, line)
        for pattern, handler in ((STAGE_START, self._stage_start), (STAGE_DONE, self._stage_done),
                                 (EPOCH, self._epoch), (GRID_ROW, self._grid_row)):
            if (m := pattern.fullmatch(text)) is not None:
                return handler(e, m)
        if text.startswith(SHOWN_AS_IS):
            return self.say(e.timestamp, text)
        if e.level >= logging.WARNING and not text.startswith("Finished in state"):
            where = f"{e.source}: " if e.source else ""
            return self.say(e.timestamp, f"{where}{logging.getLevelName(e.level)}: {_first_lines(text)}")
        if self.verbose:
            self.say(e.timestamp, f"{e.logger}: {_first_lines(text)}")

    def finish(self, when: datetime, name: str, seconds: float | None) -> None:
        """The run ended: drop the live bars, say how."""
        self.out.show([])
        took = f" in {duration(seconds)}" if seconds is not None else ""
        self.say(when, f"flow run {name.lower()}{took}")

    def _label(self, e: LogEntry, desc: str) -> str:
        return desc if not e.source or desc.startswith(e.source) else f"{e.source}: {desc}"

    def _progress(self, e: LogEntry, line: ProgressLine) -> None:
        key = (e.source, re.sub(r"epoch \d+/\d+", "epoch", line.desc))
        label = self._label(e, line.desc)
        # steps of an epoch or an evaluation (the epoch line says what matters), one of a stage's mapped batches
        inner = line.unit == "batch" or e.source.endswith("-batch")
        if self.out.tty:
            self.bars.pop(key, None)
            if not line.final:
                self.bars[key] = bar_text(line, label)
            self.out.show(list(self.bars.values()))
        if line.final and not inner:
            return self.say(e.timestamp, replace(line, desc=label).message())
        if self.out.tty or inner or line.final:
            return
        percent = line.percent
        if percent is None or percent - self.shown.get(key, 0.0) >= self.step:
            self.shown[key] = percent or 0.0
            self.say(e.timestamp, replace(line, desc=label).message())

    def _stage_start(self, e: LogEntry, m: re.Match) -> None:
        self.stage_started[m["stage"]] = e.timestamp
        self.say(e.timestamp, f"{m['stage']}: started")

    def _stage_done(self, e: LogEntry, m: re.Match) -> None:
        status = STATUS_WORDS.get(m["status"], f"ran in {duration(float(m['seconds']))}")
        facts = f" | {m['facts']}" if m["facts"] else ""
        self.say(e.timestamp, f"{m['stage']}: {status}{facts}")

    def _epoch(self, e: LogEntry, m: re.Match) -> None:
        k, n = int(m["k"]), int(m["n"])
        values = dict(pair.split("=", 1) for pair in m["values"].split(", "))
        parts = []
        if "train_epoch/total" in values:
            parts.append(f"loss {float(values['train_epoch/total']):.3f}")
        if "val/top1" in values:
            parts.append(f"val top-1 {100 * float(values['val/top1']):.1f}%")
        if e.source_started is not None:
            per_epoch = (e.timestamp - e.source_started).total_seconds() / k
            parts.append(f"{per_epoch:.0f} s/epoch" + (f", eta {duration(per_epoch * (n - k))}" if k < n else ""))
        self.say(e.timestamp, f"{e.source or 'train'}: epoch {k}/{n}: {', '.join(parts)}")

    def _grid_row(self, e: LogEntry, m: re.Match) -> None:
        k, n = int(m["k"]), int(m["n"])
        text = f"grid row {k}/{n}: {m['rest']}"
        started = self.stage_started.get("grid")
        if started is not None and k < n:
            elapsed = (e.timestamp - started).total_seconds()
            text += f" (grid eta {duration(elapsed / k * (n - k))})"
        self.say(e.timestamp, text)
