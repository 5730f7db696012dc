"""The guard around every data stage function: the work dir's lock, and OSError -> SystemFault."""

import functools
from collections.abc import Callable
from typing import TypeVar

from pevl import paths
from pevl.storage.faults import os_errors_are_faults
from pevl.storage.lock import work_dir_lock

F = TypeVar("F", bound=Callable)


def guarded(stage: str, lock: bool = True) -> Callable[[F], F]:
    """Decorate `fn(cfg, ...)`: hold cfg's work dir lock (unless lock=False: a batch run by a worker
    of a stage whose process already holds it) and report an OSError as a SystemFault of `stage`."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(cfg, *args, **kwargs):
            with os_errors_are_faults(stage):
                if not lock:
                    return fn(cfg, *args, **kwargs)
                with work_dir_lock(paths.work_dir(cfg)):
                    return fn(cfg, *args, **kwargs)

        return run  # type: ignore[return-value]

    return wrap
