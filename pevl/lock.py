"""One writer per work dir: an advisory `fcntl.flock` on `<work_dir>/.pevl.lock`.

Every stage run, `pevl run` and the Prefect flow hold it while they work. A second run refuses at
once (exit 2, naming the holder's pid and command) or, given a wait, waits for it with a message.
The kernel drops the lock when its process dies, so a killed run never leaves a stale lock. The
lock is re-entrant within a process (the flow holds it while its stage tasks, in threads of the
same process, take it again).
"""

import fcntl
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pevl.faults import fault
from pevl.stages.outputs import StageError

LOCK_NAME = ".pevl.lock"
POLL_S = 0.5
log = logging.getLogger("pevl.lock")
_GUARD = threading.Lock()
_HELD: dict[str, list[int]] = {}  # lock path -> [fd, depth] of the locks this process holds


class WorkDirBusy(StageError):
    """Another process holds the work dir's lock; the message names its pid."""


def lock_path(work_dir: Path) -> Path:
    """The lock file of a work dir."""
    return Path(work_dir) / LOCK_NAME


def holder(work_dir: Path) -> dict:
    """What the lock file says about its holder: {pid, host, command, since} ({} when unknown)."""
    try:
        return json.loads(lock_path(work_dir).read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _describe(work_dir: Path) -> str:
    h = holder(work_dir)
    for _ in range(10):  # the holder writes its name just after taking the lock
        if h:
            break
        time.sleep(0.02)
        h = holder(work_dir)
    if not h:
        return f"work dir {work_dir} is in use by another process"
    return (f"work dir {work_dir} is in use by pid {h.get('pid')} on {h.get('host')} "
            f"({h.get('command')}, since {h.get('since')})")


def _open(work_dir: Path) -> int:
    try:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        return os.open(lock_path(work_dir), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise fault("work_dir", "cannot write to", work_dir, e) from None


def _acquire(work_dir: Path, wait_s: float) -> int:
    """Take the flock (polling up to wait_s seconds); WorkDirBusy when it stays held."""
    fd, deadline, said = _open(work_dir), time.monotonic() + max(0.0, wait_s), False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                hint = "wait for it or pass --wait SECONDS" if wait_s <= 0 else f"still held after {wait_s:g} s"
                raise WorkDirBusy(f"{_describe(work_dir)}: {hint}") from None
            if not said:
                log.warning("%s: waiting up to %g s", _describe(work_dir), wait_s)
                said = True
            time.sleep(POLL_S)
    info = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv[:3]),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    return fd


@contextmanager
def work_dir_lock(work_dir: Path, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the work dir's lock for the block (re-entrant in this process).

    Args:
        work_dir: the run's work dir (created if missing; SystemFault when it cannot be written).
        wait_s: seconds to wait for another holder; 0 refuses at once with WorkDirBusy.
    """
    key = str(lock_path(Path(work_dir).resolve()))
    with _GUARD:
        held = _HELD.get(key)
        if held:
            held[1] += 1
    if not held:
        fd = _acquire(Path(work_dir), wait_s)
        with _GUARD:
            _HELD[key] = held = [fd, 1]
    try:
        yield
    finally:
        with _GUARD:
            held[1] -= 1
            last = held[1] == 0
            if last:
                del _HELD[key]
        if last:
            os.ftruncate(held[0], 0)  # no stale holder for the next reader of the file
            os.close(held[0])  # closing the only descriptor releases the flock
