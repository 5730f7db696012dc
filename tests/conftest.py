"""How the suite runs in parallel on pytest-xdist workers (docs/testing.md#running-in-parallel).

- Workers: pyproject's addopts say `-n auto --dist loadfile`; `pytest_xdist_auto_num_workers` below
  picks none when the command line names one test file (it runs in this process, as it would without
  xdist), else one more than the CPU cores (many tests wait on servers), at most one per file named;
  `-n N` on the command line or $PYTEST_XDIST_AUTO_NUM_WORKERS overrides it.
- Units of work and their order: tests/work_units.py (a file, or a group of files that must not run
  at the same time; longest first).
- Isolation: the run gets one folder shared by its processes (tests/run_cache.py: migrated databases
  made once), and every process that runs tests its own PREFECT_HOME in it (unless one is set).
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from run_cache import RUN_DIR_ENV
from work_units import FileGroupScheduling, order_longest_first

RUN_DIR = pytest.StashKey[Path]()


def _named_files(config: pytest.Config) -> set[str] | None:
    """The test files the command line names, or None when it names a folder (many files)."""
    files = set()
    for arg in config.args:
        path = arg.split("::", 1)[0]
        if not path.endswith(".py"):
            return None
        files.add(path)
    return files


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers for `-n auto`: 0 (no xdist) for one file, else cores + 1, at most one per named file."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    files = _named_files(config)
    workers = (os.cpu_count() or 1) + 1
    return workers if files is None else min(workers, len(files)) if len(files) > 1 else 0


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log) -> FileGroupScheduling | None:
    """`--dist loadfile` hands out tests/work_units.py's units (other modes: xdist's own)."""
    return FileGroupScheduling(config, log) if config.getvalue("dist") == "loadfile" else None


def pytest_configure(config: pytest.Config) -> None:
    """Make the run's shared folder (not in a worker); give each process that runs tests a Prefect home."""
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker is None:
        config.stash[RUN_DIR] = Path(tempfile.mkdtemp(prefix="pevl-tests-"))
        os.environ[RUN_DIR_ENV] = str(config.stash[RUN_DIR])
    controller = worker is None and config.getoption("dist", "no") != "no"
    if not controller and not os.environ.get("PREFECT_HOME"):
        home = Path(os.environ[RUN_DIR_ENV]) / f"prefect-home-{worker or 'main'}"
        home.mkdir(exist_ok=True)
        os.environ["PREFECT_HOME"] = str(home)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the run's shared folder (in the process that made it)."""
    if RUN_DIR in config.stash:
        shutil.rmtree(config.stash[RUN_DIR], ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Units of work start longest first (the same order in every worker)."""
    order_longest_first(items)
