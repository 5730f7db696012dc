"""The pose fan-out on a real Dask cluster: a scheduler here, two workers on two namespace hosts.

tests/netns.py makes a private network (a bridge on this machine, two network namespaces joined
by veth pairs); the `dask scheduler` and a Prefect server (with its auth string, being beyond
loopback) listen on this machine's bridge address, and each `dask worker` runs inside its own
namespace and reaches them over the veth network. The data folders lie on the shared filesystem
(as an NFS mount would). Poses on the cluster must equal those of the thread runner; then one
host's worker is killed while it holds a batch, and the run still ends with every clip's poses,
identical. Every process, namespace and the bridge is removed in `finally`, failures included.
"""

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from netns import Hosts, namespace_hosts
from pevl.services import security
from pevl.services import servers as services
from servers import ROOT, drain_prefect_clients, wait_for
from test_flow_e2e import write_tiny_config

log = logging.getLogger(__name__)  # measured figures: shown with -o log_cli=true

pytestmark = pytest.mark.slow
CLIPS_PER_CLASS = 4  # 12 clips, one per batch
BATCH_SLEEP_S = "1.5"  # tests/dask_slow_batches.py, on the workers only


@dataclass
class Cluster:
    hosts: Hosts
    state: Path
    config: Path
    address: str  # tcp://head:port of the scheduler
    api: str
    auth: str


def _tcp_open(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _workers(address: str) -> dict:
    from distributed import Client

    with Client(address, timeout=20) as client:
        return client.scheduler_info(n_workers=-1)["workers"]


def _client_env(state: Path, api: str, auth: str) -> dict[str, str]:
    return {**services.QUIET_ENV, "PREFECT_API_URL": api, "PREFECT_API_AUTH_STRING": auth,
            "PREFECT_HOME": str(state / "client-home"), "PEVL_TEST_BATCH_SLEEP": BATCH_SLEEP_S}


def start_worker(cluster_hosts: Hosts, i: int, state: Path, address: str, env: dict[str, str]) -> None:
    """`dask worker` (one process, one thread) inside namespace host i; returns once it has registered."""
    command = cluster_hosts.exec(i, [services.console_script("dask"), "worker", address, "--nthreads", "1",
                                     "--nworkers", "1", "--host", cluster_hosts.addresses[i], "--no-dashboard",
                                     "--name", f"host{i}", "--death-timeout", "120",
                                     "--local-directory", str(state / f"dask-host{i}"),
                                     "--preload", str(ROOT / "tests" / "dask_slow_batches.py")])
    service = services.Service(f"dask-worker-{i}", command, env, cwd=str(ROOT))
    host = cluster_hosts.addresses[i]
    services.start(service, state, 180, ready=lambda: any(w.get("host") == host for w in _workers(address).values()))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dask")
    state = tmp / "state"
    config = write_tiny_config(tmp)
    cfg = yaml.safe_load(config.read_text())
    cfg["dataset"]["synth"]["clips_per_class"] = CLIPS_PER_CLASS
    cfg["orchestration"] = {"task_runner": "thread", "max_workers": 2, "pose_batch_clips": 1}
    config.write_text(yaml.safe_dump(cfg))
    out = subprocess.run([services.console_script("pevl"), "run", str(config), "--stages", "ingest,decode"],
                         cwd=str(ROOT), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    names = ["prefect", "dask-scheduler", "dask-worker-0", "dask-worker-1"]
    with namespace_hosts(2) as hosts:
        try:
            auth = security.ensure_auth_string(state)
            prefect_port, dask_port = services.free_port(hosts.head), services.free_port(hosts.head)
            services.start(services.prefect_service(state, prefect_port, ui=False, host=hosts.head, auth=auth),
                           state, 180)
            api = services.prefect_api_url(prefect_port, hosts.head)
            env = _client_env(state, api, auth)
            scheduler = services.Service("dask-scheduler", [services.console_script("dask"), "scheduler", "--host",
                                                            hosts.head, "--port", str(dask_port), "--no-dashboard"],
                                         env, cwd=str(ROOT))
            services.start(scheduler, state, 120, ready=lambda: _tcp_open(hosts.head, dask_port))
            address = f"tcp://{hosts.head}:{dask_port}"
            for i in range(2):
                start_worker(hosts, i, state, address, env)
            yield Cluster(hosts, state, config, address, api, auth)
        finally:
            drain_prefect_clients()
            for name in reversed(names):
                services.stop(state, name, timeout=15)


def run_poses(cluster: Cluster, runner: str):
    """The poses stage fanned out (force) on `runner`, in this process; {clip file: array}."""
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, PREFECT_HOME, temporary_settings

    from flows.poses import run_poses_fanned_out
    from pevl import paths
    from schemas import load_config

    cfg = load_config(cluster.config)
    orch = cfg.orchestration.model_copy(update={"task_runner": runner,
                                                "dask_address": cluster.address if runner == "dask" else None})
    cfg = cfg.model_copy(update={"orchestration": orch})
    with temporary_settings({PREFECT_API_URL: cluster.api, PREFECT_API_AUTH_STRING: cluster.auth,
                             PREFECT_HOME: cluster.state / "client-home"}):
        result = run_poses_fanned_out(cfg, force=True)
    clips = paths.poses_dir(cfg) / "clips"
    return result, {p.name: np.load(p, allow_pickle=False) for p in sorted(clips.glob("*.npy"))}


def test_cluster_poses_equal_the_thread_runners(cluster):
    workers = _workers(cluster.address).values()
    assert sorted(w["host"] for w in workers) == sorted(cluster.hosts.addresses)  # both namespace hosts
    _, threads = run_poses(cluster, "thread")
    result, dask = run_poses(cluster, "dask")
    assert threads and dask.keys() == threads.keys()
    assert result.counts["posed"] == 3 * CLIPS_PER_CLASS
    assert all(np.array_equal(dask[k], threads[k]) for k in threads)


def test_a_worker_killed_mid_run_has_its_batches_rescheduled(cluster):
    import threading

    from distributed import Client

    _, reference = run_poses(cluster, "thread")
    victim = services.running(cluster.state, "dask-worker-0")
    outcome: dict = {}
    run = threading.Thread(target=lambda: outcome.update(zip(("result", "poses"), run_poses(cluster, "dask"))))
    run.start()
    try:
        with Client(cluster.address, timeout=20) as client:
            host0 = cluster.hosts.addresses[0]
            held = wait_for(lambda: any(host0 in w and tasks for w, tasks in client.processing().items()), 120, 0.1)
            assert held, "host 0 never got a batch"
            os.killpg(victim.pid, signal.SIGKILL)  # the host dies: nanny-less worker, whole process group
            killed = time.monotonic()
            run.join(timeout=300)
            assert not run.is_alive(), "the run did not end after the worker died"
            left = [w["host"] for w in client.scheduler_info(n_workers=-1)["workers"].values()]
        log.info(f"kill -> run complete {time.monotonic() - killed:.1f} s; workers left: {left}")
        assert left == [cluster.hosts.addresses[1]]
    finally:
        run.join(timeout=300)
    assert outcome["result"].counts["posed"] == 3 * CLIPS_PER_CLASS
    assert outcome["poses"].keys() == reference.keys()
    assert all(np.array_equal(outcome["poses"][k], reference[k]) for k in reference)
