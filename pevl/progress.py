"""Progress of long work: a tqdm bar on a terminal, a log line every few percent anywhere else.

tqdm writes carriage returns, which a log file or the Prefect log stores as one ever-growing line
(100 kB for a training run). When stderr is not a terminal, `progress` returns a `LogProgress`
with the part of tqdm's interface the project uses (iterate, `update`, `set_postfix`, `close`,
context manager) that logs `desc: 40% (40/100 clip, 3.2 clip/s, eta 19 s)` through `logging`
each time another `step` percent is done, at most one line per `min_interval` seconds (so a 2-second
epoch logs only its final line), or every `interval` seconds when the total is unknown.
"""

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

log = logging.getLogger("pevl.progress")

STEP_PERCENT = 5.0
MIN_INTERVAL_S = 5.0
INTERVAL_S = 30.0


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


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
        parts = [f"{self.n}/{self.total} {self.unit}" if self.total else f"{self.n} {self.unit}",
                 f"{rate:.1f} {self.unit}/s"]
        if self.total and not final and rate > 0:
            parts.append(f"eta {(self.total - self.n) / rate:.0f} s")
        if final:
            parts.append(f"{elapsed:.1f} s")
        if self.postfix:
            parts.append(self.postfix)
        head = f"{100.0 * self.n / self.total:.0f}%" if self.total else ("done" if final else "")
        log.info("%s: %s (%s)", self.desc or "progress", head, ", ".join(parts))


def progress(iterable: Iterable | None = None, total: int | None = None, desc: str = "", unit: str = "it",
             disable: bool = False, leave: bool = True) -> Any:
    """A tqdm bar when stderr is a terminal, else a `LogProgress`; `disable` turns both off.

    Args:
        iterable: optional iterable to wrap.
        total: number of units (None: len(iterable) if it has one).
        desc, unit: label and unit name.
        disable: no output at all (e.g. on ranks other than 0).
        leave: keep the finished bar on the terminal (tqdm's `leave`).
    """
    if _is_terminal(sys.stderr):
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, leave=leave, file=sys.stderr)
    if disable:
        from tqdm import tqdm

        return tqdm(iterable, total=total, disable=True)
    return LogProgress(iterable, total, desc, unit)
