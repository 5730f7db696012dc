"""The task runner pose extraction fans out on, chosen by `orchestration` in the config."""

import os

from schemas import OrchestrationConfig


def pool_size(orch: OrchestrationConfig) -> int:
    """Workers of a local pool or LocalCluster: max_workers, 0 = all cores."""
    return orch.max_workers or os.cpu_count() or 1


def local_concurrency(orch: OrchestrationConfig) -> int:
    """Pose batches that may run at once on one machine: the local pool's size; 1 on a Dask cluster
    at an address (its workers are other processes or machines, each with its own cores)."""
    if orch.task_runner == "dask" and orch.dask_address:
        return 1
    return pool_size(orch)


def build_task_runner(orch: OrchestrationConfig, worker_resources: dict[str, float] | None = None):
    """A Prefect task runner: threads, processes, or Dask (LocalCluster on 127.0.0.1 or an address).

    The same flow code runs on a laptop pool or on a Dask cluster of GPU workers: only this
    section of the config changes (`task_runner: dask`, `dask_address: tcp://scheduler:8786`).
    worker_resources: what each LocalCluster worker declares (e.g. {"GPU": 1}; a cluster at an
    address declares its own with `dask worker --resources`).
    """
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

    if orch.task_runner == "thread":
        return ThreadPoolTaskRunner(max_workers=pool_size(orch))
    if orch.task_runner == "process":
        return ProcessPoolTaskRunner(max_workers=pool_size(orch))
    from prefect_dask import DaskTaskRunner

    if orch.dask_address:
        return DaskTaskRunner(address=orch.dask_address)
    # One single-threaded worker process per core: pose backends keep one estimator per process.
    cluster = {"n_workers": pool_size(orch), "threads_per_worker": 1, "processes": True, "host": "127.0.0.1",
               "dashboard_address": None}
    return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                          cluster_kwargs={**cluster, **({"resources": dict(worker_resources)} if worker_resources else {})})
