"""Files made once per test run and shared by every process of it (the pytest-xdist workers included).

tests/conftest.py makes one folder per run, before any worker starts, and names it in
$PEVL_TEST_RUN_DIR (the workers inherit it); it is removed when the run ends. `once(name, make)`
returns that folder's file `name`, made by `make` in the first process to ask while the others wait
on a lock, so an expensive artefact (a migrated database) is made once, not once per worker or test.
Outside such a run (a module used on its own), the folder is a temp dir of this process, removed at its exit.
"""

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

from filelock import FileLock

RUN_DIR_ENV = "PEVL_TEST_RUN_DIR"


@cache
def _own_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="pevl-tests-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def run_dir() -> Path:
    """The folder this test run shares between its processes."""
    named = os.environ.get(RUN_DIR_ENV)
    return Path(named) if named else _own_dir()


def once(name: str, make: Callable[[Path], None]) -> Path:
    """run_dir()/name, made by make(path) the first time any process of the run asks for it.

    make writes to a scratch path that is renamed into place when it returns, so no process ever
    sees a half-made file, and a make that fails leaves nothing behind (the next caller tries again)."""
    path = run_dir() / name
    with FileLock(f"{path}.lock"):
        if not path.exists():
            scratch = path.with_name(f"{path.name}.making")
            scratch.unlink(missing_ok=True)
            make(scratch)
            scratch.rename(path)
    return path
