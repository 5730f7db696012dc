"""onnxruntime threads per pose session when several estimators share one machine's cores."""

import pytest

from flows.runners import local_concurrency
from pevl.stages.poses import session_threads
from schemas import OrchestrationConfig, PoseConfig


@pytest.fixture
def eight_cores(monkeypatch):
    monkeypatch.setattr("pevl.stages.poses.os.cpu_count", lambda: 8)


@pytest.mark.parametrize("estimators,threads", [(1, 0), (2, 4), (3, 2), (8, 1), (16, 1)])
def test_auto_threads_share_the_cores_among_cpu_estimators(eight_cores, estimators, threads):
    # 0 = onnxruntime's default (all cores), right for a single estimator only
    assert session_threads(PoseConfig(backend="rtmlib"), estimators) == threads


def test_explicit_threads_cuda_and_ground_truth_are_left_alone(eight_cores):
    assert session_threads(PoseConfig(backend="rtmlib", rtmlib={"threads": 3}), 4) == 3
    assert session_threads(PoseConfig(backend="rtmlib", rtmlib={"device": "cuda"}), 4) == 0
    assert session_threads(PoseConfig(backend="ground_truth"), 4) == 0


def test_local_runners_count_their_pool_and_a_remote_dask_cluster_does_not():
    assert local_concurrency(OrchestrationConfig(task_runner="thread", max_workers=3)) == 3
    assert local_concurrency(OrchestrationConfig(task_runner="process", max_workers=2)) == 2
    assert local_concurrency(OrchestrationConfig(task_runner="dask", max_workers=2)) == 2  # LocalCluster
    assert local_concurrency(OrchestrationConfig(task_runner="dask", dask_address="tcp://10.0.0.5:8786")) == 1
