"""System faults vs bad input: a full disk or an unwritable folder stops a stage; it is never a reject.

Only the input's own faults (an unreadable, empty, truncated or undecodable video, a bad
annotation) become rejects rows. A failure to write the stage's own outputs, or to read a file an
earlier stage should have written, is the system's fault: the stage stops with `SystemFault`
(exit 2, one line naming the path), is not marked complete, and the rerun resumes.
"""

import errno
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pevl.storage.outputs import StageError

log = logging.getLogger("pevl.faults")
# errnos that say the machine, not the clip, is at fault, even while reading an input file
RESOURCE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EMFILE,
                             errno.ENFILE, errno.ENOMEM})


class SystemFault(StageError):
    """A stage cannot write its outputs or read what an earlier stage wrote; the message names the path."""


def is_resource_error(exc: BaseException) -> bool:
    """True for an OSError whose errno says the machine is at fault (no space, read-only, I/O, no fds)."""
    return isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS


def fault(stage: str, action: str, path: Path | str, exc: BaseException) -> SystemFault:
    """The SystemFault of one failed action on one path, e.g. fault('decode', 'cannot write', p, e)."""
    if isinstance(exc, OSError) and exc.strerror:
        detail = f"[Errno {exc.errno}] {exc.strerror}"
    else:
        detail = f"{type(exc).__name__}: {exc}"
    return SystemFault(f"{stage}: {action} {path}: {detail} (a system fault, not bad input: "
                       "fix it and run again; finished work is kept)")


def probe_writable(stage: str, folder: Path) -> None:
    """Create `folder` if needed and write then remove a probe file in it; SystemFault otherwise."""
    folder = Path(folder)
    probe = folder / f".probe.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, b"probe")
        finally:
            os.close(fd)
        probe.unlink()
    except OSError as e:
        raise fault(stage, "cannot write to", folder, e) from None


def writable(folder: Path) -> bool:
    """True when a probe file can be written in `folder` (which must exist)."""
    try:
        probe_writable("probe", folder)
        return True
    except SystemFault:
        return False


@contextmanager
def os_errors_are_faults(stage: str) -> Iterator[None]:
    """Turn an OSError raised in the block into a SystemFault naming its path."""
    try:
        yield
    except OSError as e:
        log.debug("%s: system fault", stage, exc_info=True)
        if e.filename is None:  # not about a file (a socket, a pipe, a child process)
            raise fault(stage, "system error in", "this stage", e) from None
        where = f"{e.filename} -> {e.filename2}" if e.filename2 else e.filename  # a rename: both
        raise fault(stage, "cannot access", where, e) from None
