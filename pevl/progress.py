"""Progress of long work: a tqdm bar on a terminal, a log line every few percent anywhere else.

tqdm writes carriage returns, which a log file or the Prefect log stores as one ever-growing line
(100 kB for a training run). When stderr is not a terminal, `progress` returns a `LogProgress`
with the part of tqdm's interface the project uses (iterate, `update`, `set_postfix`, `close`,
context manager) that logs `desc: 40% (40/100 clip, 3.2 clip/s, eta 19 s)` through `logging`
each time another `step` percent is done, at most one line per `min_interval` seconds (so a 2-second
epoch logs only its final line), or every `interval` seconds when the total is unknown.
`ProgressLine` is that line as values: `parse_progress` reads a logged line back and `bar_text`
draws it as a bar (`pevl watch` follows a flow run's logs this way).

Inside a Prefect task or flow run, a bar made with `report=True` (and `report_progress`, which has
no output of its own) also keeps a Prefect progress artifact of that run at its percentage, updated
at most once per UI_STEP_PERCENT and UI_MIN_INTERVAL_S, 100% when done; outside Prefect (or when
the Prefect API fails) it is a no-op, so the stage code never imports prefect.
"""

import logging
import re
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pevl.console import is_terminal

log = logging.getLogger("pevl.progress")

STEP_PERCENT = 5.0
MIN_INTERVAL_S = 5.0
INTERVAL_S = 30.0
UI_STEP_PERCENT = 5.0
UI_MIN_INTERVAL_S = 3.0


class LogProgress:
    """A tqdm stand-in for logs: one line per `step` percent (or `interval` s without a total).

    Args:
        iterable: what to iterate over (optional, as with tqdm).
        total: the number of units, or None (taken from len(iterable) when it has one).
        desc: label at the start of each line.
        unit: unit name in the line.
        step: percent between two lines.
        min_interval: at least this many seconds between two intermediate lines.
        interval: seconds between two lines when the total is unknown.
    """

    def __init__(self, iterable: Iterable | None = None, total: int | None = None, desc: str = "",
                 unit: str = "it", step: float = STEP_PERCENT, interval: float = INTERVAL_S,
                 min_interval: float = MIN_INTERVAL_S):
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:  # a generator, or a DataLoader over an iterable dataset
                total = None
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.step, self.interval, self.min_interval = step, interval, min_interval
        self.n, self.postfix = 0, ""
        self.start = self.last_time = time.monotonic()
        self.last_mark = 0.0
        self.closed = False

    def __iter__(self) -> Iterator:
        for item in () if self.iterable is None else self.iterable:
            yield item
            self.update()
        self.close()

    def __enter__(self) -> "LogProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_postfix(self, **values: Any) -> None:
        """Text appended to the next line, e.g. loss=0.42."""
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def update(self, n: int = 1) -> None:
        """Count n more units; log a line when another step is done."""
        self.n += n
        now = time.monotonic()
        if self.total:
            mark = 100.0 * self.n / self.total
            due = mark - self.last_mark >= self.step and now - self.last_time >= self.min_interval
            if due and self.n < self.total:
                self.last_mark = mark - mark % self.step
                self._emit(now)
        elif now - self.last_time >= self.interval:
            self._emit(now)

    def close(self) -> None:
        """Log the final line once."""
        if not self.closed:
            self.closed = True
            if self.n:
                self._emit(time.monotonic(), final=True)

    def _emit(self, now: float, final: bool = False) -> None:
        self.last_time = now
        elapsed = max(now - self.start, 1e-9)
        rate = self.n / elapsed
        eta = (self.total - self.n) / rate if self.total and not final and rate > 0 else None
        line = ProgressLine(self.desc or "progress", self.n, self.total, self.unit, rate, eta,
                            elapsed if final else None, self.postfix)
        log.info("%s", line.message())


@dataclass(frozen=True)
class ProgressLine:
    """One progress log line, `desc: 40% (40/100 clip, 3.2 clip/s, eta 19 s)`, as values.

    `message()` writes it (LogProgress logs it); `parse_progress` reads it back (`pevl watch`
    draws it as a bar). `elapsed` is set on the final line only, `eta` on the others with a total.
    """

    desc: str
    n: int
    total: int | None
    unit: str
    rate: float
    eta: float | None = None
    elapsed: float | None = None
    postfix: str = ""

    @property
    def final(self) -> bool:
        """The line a bar logs when it closes."""
        return self.elapsed is not None

    @property
    def percent(self) -> float | None:
        """Done so far, 0-100; None without a total."""
        return 100.0 * self.n / self.total if self.total else None

    def message(self) -> str:
        """The line as LogProgress logs it."""
        parts = [f"{self.n}/{self.total} {self.unit}" if self.total else f"{self.n} {self.unit}",
                 f"{self.rate:.1f} {self.unit}/s"]
        if self.eta is not None:
            parts.append(f"eta {self.eta:.0f} s")
        if self.elapsed is not None:
            parts.append(f"{self.elapsed:.1f} s")
        if self.postfix:
            parts.append(self.postfix)
        head = f"{self.percent:.0f}%" if self.total else ("done" if self.final else "")
        return f"{self.desc}: {head} ({', '.join(parts)})"


_LINE = re.compile(r"(?P<desc>.+?): (?:\d+%|done|) \((?P<n>\d+)(?:/(?P<total>\d+))? (?P<unit>\S+), "
                   r"(?P<rate>[\d.]+) \S+/s(?:, eta (?P<eta>\d+) s)?(?:, (?P<elapsed>[\d.]+) s)?"
                   r"(?:, (?P<postfix>.*))?\)")


def parse_progress(message: str) -> ProgressLine | None:
    """The ProgressLine of a LogProgress message; None for any other message."""
    m = _LINE.fullmatch(message)
    if m is None:
        return None
    number = lambda key, kind: kind(m[key]) if m[key] is not None else None  # noqa: E731
    return ProgressLine(m["desc"], int(m["n"]), number("total", int), m["unit"], float(m["rate"]),
                        number("eta", float), number("elapsed", float), m["postfix"] or "")


def bar_text(line: ProgressLine, label: str = "", width: int = 24) -> str:
    """`label [########........]  40%  40/100 clip  3.2 clip/s  eta 19 s`: a progress line as a text bar."""
    done = min(1.0, line.n / line.total) if line.total else 0.0
    fill = "#" * round(done * width)
    head = f"  [{fill:.<{width}}] {line.percent:3.0f}%  {line.n}/{line.total}" if line.total else f"  {line.n}"
    tail = f"  eta {duration(line.eta)}" if line.eta is not None else ""
    tail = f"  {duration(line.elapsed)}" if line.elapsed is not None else tail
    text = f"{label or line.desc}{head} {line.unit}  {line.rate:.1f} {line.unit}/s{tail}"
    return f"{text}  {line.postfix}" if line.postfix else text


def duration(seconds: float) -> str:
    """Seconds as '7 min 05 s' (or '42 s')."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def _in_prefect_run() -> bool:
    """True inside a Prefect task or flow run (never imports prefect: not loaded means not in one)."""
    context = sys.modules.get("prefect.context")
    if context is None:
        return False
    return context.TaskRunContext.get() is not None or context.FlowRunContext.get() is not None


class UiProgress:
    """A Prefect progress artifact of the current run; `update` counts units, `close` marks the end.

    Updates reach the API at most once per `step` percent and `min_interval` seconds (the last one
    always); the first API error is logged once and turns the artifact off (work goes on).
    """

    def __init__(self, desc: str, total: int, unit: str = "it", initial: int = 0,
                 step: float = UI_STEP_PERCENT, min_interval: float = UI_MIN_INTERVAL_S):
        self.desc, self.total, self.unit, self.n = desc, max(1, int(total)), unit, int(initial)
        self.step, self.min_interval = step, min_interval
        self.start = time.monotonic()
        self.last_time, self.last_percent, self.closed = self.start, self.percent(), False
        self.artifact_id = self._api("create", lambda a: a.create_progress_artifact(
            self.percent(), description=self.describe()))

    def percent(self) -> float:
        """Done so far, 0-100."""
        return min(100.0, 100.0 * self.n / self.total)

    def describe(self, final: bool = False) -> str:
        """`decode: 40/100 clip (eta 19 s)`, the artifact's description."""
        elapsed = time.monotonic() - self.start
        text = f"{self.desc}: {self.n}/{self.total} {self.unit}"
        if final:
            return f"{text}, {elapsed:.0f} s" + ("" if self.n >= self.total else " (stopped)")
        rate = self.n / elapsed if elapsed > 0 else 0.0
        return f"{text} (eta {(self.total - self.n) / rate:.0f} s)" if 0 < rate and self.n else text

    def update(self, n: int = 1) -> None:
        """Count n more units; send the percentage when another step is done (rate-limited)."""
        self.n += n
        now = time.monotonic()
        if self.percent() - self.last_percent >= self.step and now - self.last_time >= self.min_interval:
            self._send(now)

    def close(self) -> None:
        """Send the final percentage once (100% when every unit was counted)."""
        if not self.closed:
            self.closed = True
            self._send(time.monotonic(), final=True)

    def _send(self, now: float, final: bool = False) -> None:
        if self.artifact_id is None:
            return
        self.last_time, self.last_percent = now, self.percent()
        self._api("update", lambda a: a.update_progress_artifact(self.artifact_id, self.percent(),
                                                                 description=self.describe(final)))

    def _api(self, what: str, call: Any) -> Any:
        """call(prefect.artifacts); None (and the artifact off) when it fails."""
        try:
            from prefect import artifacts

            return call(artifacts)
        except Exception as e:  # noqa: BLE001 - a progress display must never stop the work
            log.warning("Prefect progress artifact %s of %r failed (%s: %s): no more UI progress for it",
                        what, self.desc, type(e).__name__, str(e).splitlines()[0][:200] if str(e) else "")
            self.artifact_id = None
            return None


class _NoUi:
    """What report_progress returns outside Prefect: counts nothing, sends nothing."""

    def update(self, n: int = 1) -> None:
        """Nothing."""

    def close(self) -> None:
        """Nothing."""


def report_progress(desc: str, total: int | None, unit: str = "it", initial: int = 0,
                    disable: bool = False) -> UiProgress | _NoUi:
    """A Prefect progress artifact for `total` units inside a Prefect run (no log or terminal output),
    else a no-op with the same `update` / `close`."""
    if disable or not total or not _in_prefect_run():
        return _NoUi()
    return UiProgress(desc, total, unit, initial)


class _Reported:
    """A bar (tqdm or LogProgress) whose counts also go to a Prefect progress artifact."""

    def __init__(self, bar: Any, ui: UiProgress):
        self.bar, self.ui = bar, ui

    def __iter__(self) -> Iterator:
        for item in self.bar:
            yield item
            self.ui.update()
        self.ui.close()

    def __enter__(self) -> "_Reported":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Count n more units on both."""
        self.bar.update(n)
        self.ui.update(n)

    def set_postfix(self, **values: Any) -> None:
        """The bar's postfix (the artifact shows counts only)."""
        self.bar.set_postfix(**values)

    def close(self) -> None:
        """Close both."""
        self.bar.close()
        self.ui.close()


def progress(iterable: Iterable | None = None, total: int | None = None, desc: str = "", unit: str = "it",
             disable: bool = False, leave: bool = True, report: bool = False) -> Any:
    """A tqdm bar when stderr is a terminal, else a `LogProgress`; `disable` turns both off.

    Args:
        iterable: optional iterable to wrap.
        total: number of units (None: len(iterable) if it has one).
        desc, unit: label and unit name.
        disable: no output at all (e.g. on ranks other than 0).
        leave: keep the finished bar on the terminal (tqdm's `leave`).
        report: inside a Prefect run, also keep a progress artifact of it (a stage's main bar).
    """
    if is_terminal(sys.stderr):
        from tqdm import tqdm

        bar = tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, leave=leave, file=sys.stderr)
    elif disable:
        from tqdm import tqdm

        return tqdm(iterable, total=total, disable=True)
    else:
        bar = LogProgress(iterable, total, desc, unit)
    ui = report_progress(desc, bar.total, unit, disable=disable or not report)
    return _Reported(bar, ui) if isinstance(ui, UiProgress) else bar
