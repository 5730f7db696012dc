"""How a parallel run splits the suite into units of work, and in which order they start.

A unit is one test file, so a file's tests run in order in one worker and its module fixtures
(servers, a trained model) are made once; or a named group of files (GROUPS) that run one after
another in one worker, never at the same time. Units start longest first (LONGEST_FIRST, then files
with a test marked slow, then the rest in file order), so no long file starts last while the other
workers sit idle. `FileGroupScheduling` is the pytest-xdist scheduler that hands out these units
(`--dist loadfile`, through tests/conftest.py): xdist's own `xdist_group` marks do not group tests
under pytest 9.2, which no longer lets a plugin rename a collected test.
"""

from pathlib import PurePosixPath

import pytest
from xdist.scheduler import LoadScopeScheduling

# Files that must not run at the same time as each other: one unit each group.
GROUPS = {
    # each makes network namespaces, veth pairs and a bridge on this machine, and runs a cluster on them
    "netns": ("test_dask_cluster.py", "test_train_two_nodes.py"),
}
# The longest files, longest first: measured alone on 2 cores (docs/testing.md#measured-suite-times);
# only their order matters, and a file not listed needs no entry.
LONGEST_FIRST = [
    "test_flow_beside.py", "test_flow_e2e.py", "test_flow_crash.py", "test_dask_cluster.py",
    "test_train_two_nodes.py", "test_work_pool.py", "test_demo_closing.py", "test_grid_dag.py",
    "test_prefect_artifacts.py", "test_train.py", "test_model_serving.py", "test_predict.py",
    "test_train_resume.py", "test_train_ddp.py", "test_tracking_failures.py", "test_mlflow_ui.py",
]
_GROUP_OF = {name: group for group, names in GROUPS.items() for name in names}


def unit_of(nodeid: str) -> str:
    """The unit of work of a test id: its group's name, else its file's path."""
    path = nodeid.split("::", 1)[0]
    return _GROUP_OF.get(PurePosixPath(path).name, path)


def order_longest_first(items: list[pytest.Item]) -> None:
    """Sort items in place so that units start longest first; a unit's tests keep their order."""
    rank: dict[str, tuple[int, int]] = {}
    for i, item in enumerate(items):
        name = item.path.name
        known = LONGEST_FIRST.index(name) if name in LONGEST_FIRST else None
        here = (known if known is not None else len(LONGEST_FIRST) + (0 if item.get_closest_marker("slow") else 1), i)
        unit = unit_of(item.nodeid)
        rank[unit] = min(rank.get(unit, here), here)
    items.sort(key=lambda item: rank[unit_of(item.nodeid)])


class FileGroupScheduling(LoadScopeScheduling):
    """xdist's load-by-scope scheduling with `unit_of` as the scope, units handed out in collection order."""

    def __init__(self, config: pytest.Config, log=None) -> None:
        config.option.loadscopereorder = False  # keep order_longest_first's order, not "most tests first"
        super().__init__(config, log)

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)
