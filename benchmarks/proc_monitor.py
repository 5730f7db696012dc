"""Sample a process tree's memory and CPU while it runs: peak RSS per role, CPU seconds over time.

Roles: `main` (the process started), `workers` (its descendants: pool workers, Dask workers) and
any extra named pids (e.g. a server). CPU seconds are the sum over every process seen of its last
sampled user + system time, so a worker that exits between two samples loses at most one interval.
"""

import threading
import time
from dataclasses import dataclass, field

import psutil


@dataclass
class Usage:
    """What the sampler saw: peak RSS (bytes) per role, and the (time, tree CPU seconds) timeline."""

    peak_rss: dict[str, int] = field(default_factory=dict)
    peak_worker_rss: int = 0  # the largest single worker
    timeline: list[tuple[float, float]] = field(default_factory=list)

    def cpu_between(self, start: float, end: float) -> float:
        """Tree CPU seconds spent between two wall-clock times (time.time())."""
        def at(t: float) -> float:
            before = [cpu for when, cpu in self.timeline if when <= t]
            return before[-1] if before else 0.0
        return max(0.0, at(end) - at(start))


class TreeMonitor:
    """Polls every `interval` seconds in a thread until stopped (use as a context manager)."""

    def __init__(self, pid: int, extra: dict[str, int] | None = None, interval: float = 0.5):
        self.pid, self.extra, self.interval = pid, dict(extra or {}), interval
        self.usage = Usage()
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "TreeMonitor":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        try:
            main = psutil.Process(self.pid)
            kids = main.children(recursive=True)
        except psutil.NoSuchProcess:
            return
        rss = {"main": self._rss(main), "workers": 0}
        for kid in kids:
            one = self._rss(kid)
            rss["workers"] += one
            self.usage.peak_worker_rss = max(self.usage.peak_worker_rss, one)
            self._count_cpu(kid)
        self._count_cpu(main)
        for name, pid in self.extra.items():
            try:
                rss[name] = self._rss(psutil.Process(pid))
            except psutil.NoSuchProcess:
                rss[name] = 0
        for role, value in rss.items():
            self.usage.peak_rss[role] = max(self.usage.peak_rss.get(role, 0), value)
        self.usage.timeline.append((time.time(), sum(self._cpu.values())))

    def _count_cpu(self, proc: psutil.Process) -> None:
        try:
            t = proc.cpu_times()
            self._cpu[proc.pid] = t.user + t.system
        except psutil.NoSuchProcess:
            pass

    @staticmethod
    def _rss(proc: psutil.Process) -> int:
        try:
            return proc.memory_info().rss
        except psutil.NoSuchProcess:
            return 0
