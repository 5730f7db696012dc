"""One writer per work dir: an advisory `fcntl.flock` on `<work_dir>/.pevl.lock`.

Every stage run, `pevl run` and the Prefect flow hold it while they work. A second run refuses at
once (exit 2, naming the holder's pid and command) or, given a wait, waits for it with a message.
The kernel drops the lock when its process dies, so a killed run never leaves a stale lock. The
lock is re-entrant within a process (the flow holds it while its stage tasks, in threads of the
same process, take it again). Work the holder hands to other processes (a grid's rows on a process
pool or Dask workers) runs under `inherited_lock(work_dir, lease(work_dir))`: the holder's token,
checked against the lock file while the holder still holds the flock. `folder_lock` keeps two
writers of one stage folder apart inside a run.
"""

import fcntl
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pevl.storage.faults import fault
from pevl.storage.outputs import StageError

LOCK_NAME = ".pevl.lock"
POLL_S = 0.5
log = logging.getLogger("pevl.lock")
_GUARD = threading.Lock()
_HELD: dict[str, list] = {}  # lock path -> [fd (None: inherited), depth, token] of the locks this process holds


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


def _acquire(work_dir: Path, wait_s: float, token: str) -> int:
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
            "since": time.strftime("%Y-%m-%dT%H:%M:%S"), "token": token}
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
        token = uuid.uuid4().hex
        fd = _acquire(Path(work_dir), wait_s, token)
        with _GUARD:
            _HELD[key] = held = [fd, 1, token]
    try:
        yield
    finally:
        _release(key, held)


def _release(key: str, held: list) -> None:
    """Leave one level of a held lock; the last level of an owned lock truncates and closes it."""
    with _GUARD:
        held[1] -= 1
        last = held[1] == 0
        if last:
            del _HELD[key]
    if last and held[0] is not None:
        os.ftruncate(held[0], 0)  # no stale holder for the next reader of the file
        os.close(held[0])  # closing the only descriptor releases the flock


def lease(work_dir: Path) -> str:
    """The token of the work dir lock this process holds, for work it hands to other processes."""
    with _GUARD:
        held = _HELD.get(str(lock_path(Path(work_dir).resolve())))
    if not held:
        raise StageError(f"work dir {work_dir}: this process holds no lock to lend")
    return str(held[2])


def _flock_is_held(work_dir: Path) -> bool:
    """True when some open file description holds the flock (probed without keeping it)."""
    fd = _open(work_dir)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the probe's flock when it got one
    return False


@contextmanager
def inherited_lock(work_dir: Path, token: str) -> Iterator[None]:
    """Work under the lock of the process that lent `token` (see `lease`); nested `work_dir_lock`
    calls in this process re-enter it. WorkDirBusy when that holder no longer holds the lock."""
    key = str(lock_path(Path(work_dir).resolve()))
    with _GUARD:
        held = _HELD.get(key)
        if held and held[2] == token:
            held[1] += 1
    if not (held and held[2] == token):
        if held:
            raise WorkDirBusy(f"work dir {work_dir}: this process holds another run's lock")
        if holder(work_dir).get("token") != token or not _flock_is_held(Path(work_dir)):
            raise WorkDirBusy(f"work dir {work_dir}: the run that lent this work its lock no longer "
                              f"holds it (the lock file names {holder(work_dir) or 'no holder'})")
        with _GUARD:
            _HELD[key] = held = [None, 1, token]
    try:
        yield
    finally:
        _release(key, held)


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Block until no other writer (thread or process) holds `<parent>/.<name>.lock`; not re-entrant."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder.parent / f".{folder.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a separate open file description: threads exclude each other too
        yield
    finally:
        os.close(fd)
