"""Two-node training for real: `torchrun --nnodes 2 --nproc-per-node 1`, one node per namespace host.

tests/netns.py makes two hosts joined by veth pairs; each runs `torchrun ... -m pevl.stages.rank`
inside its namespace, the c10d rendezvous on host 0's address, gloo over the veth network
(GLOO_SOCKET_IFNAME=eth0). The work dir lies on the shared filesystem, as an NFS mount would.
The weights must equal those of the same two ranks as two processes on one host
(`train.processes=2`, today's DDP test) within 1e-6, and rank 0 alone logs to MLflow. Each node
needs `--local-addr` (and node 0 `--rdzv-conf is_host=1`): a namespace's hostname resolves to the
machine's main address, which the other namespace cannot reach. A node killed mid-run stops the
survivor with a clear message (no hang), and both nodes started again resume from `last.pt`.
"""

import logging
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from netns import namespace_hosts
from pevl.services import servers as services
from train_fixtures import ROOT, sqlite_uri, tiny_config, write_fixture_shards

log = logging.getLogger(__name__)  # measured figures: shown with -o log_cli=true

pytestmark = pytest.mark.slow
TOLERANCE = 1e-6  # same data split, same seeds, gloo sums two ranks in the same order (measured: 0)


def _base_env() -> dict[str, str]:
    """os.environ without a launcher's rank variables (a test run under torchrun must not leak them)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("MASTER_", "RANK", "WORLD_SIZE", "LOCAL_"))}


def _weights(cfg) -> dict[str, torch.Tensor]:
    from pevl import paths
    from pevl.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(paths.train_dir(cfg) / "last.pt")
    assert ckpt["world_size"] == 2
    return ckpt["model"]


def _wait_listening(hosts, rank: int, port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until host `rank` listens on `port` (ss inside its namespace): node 0's rendezvous store is up."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        out = subprocess.run(hosts.exec(rank, ["ss", "-ltnH", f"sport = :{port}"]), capture_output=True,
                             text=True, timeout=30).stdout
        if out.strip():
            return
        time.sleep(0.1)
    raise AssertionError(f"node {rank} never listened on its rendezvous port {port} (rc {proc.poll()}):\n"
                         + (_finish([proc], timeout=30)[0][-3000:]))


def _start_nodes(hosts, cfg_path: str) -> list[subprocess.Popen]:
    """`torchrun --nnodes 2` of `pevl train cfg_path` in each namespace host (own process groups).

    Node 1 starts once node 0's rendezvous store listens, as a cluster's launch script would
    (one CI run saw a node exit within seconds of a simultaneous start)."""
    port = services.free_port()
    endpoint = f"{hosts.addresses[0]}:{port}"
    env = {**_base_env(), "GLOO_SOCKET_IFNAME": "eth0", "OMP_NUM_THREADS": "1"}
    procs = []
    for rank in range(2):
        command = hosts.exec(rank, [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2",
                                    "--nproc-per-node", "1", "--node-rank", str(rank),
                                    "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint,
                                    "--rdzv-id", "pevl-test",
                                    # the namespace's own address is not what its hostname resolves to
                                    "--rdzv-conf", f"is_host={int(rank == 0)}",
                                    "--local-addr", hosts.addresses[rank],
                                    "-m", "pevl.stages.rank", cfg_path])
        procs.append(subprocess.Popen(command, cwd=ROOT, env=env, text=True, start_new_session=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        if rank == 0:
            _wait_listening(hosts, 0, port, procs[0])
    return procs


def _finish(procs: list[subprocess.Popen], timeout: float = 300) -> list[str]:
    """Each node's output once it exits (killed after `timeout` s: a hang fails the test)."""
    try:
        return [p.communicate(timeout=timeout)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def test_two_nodes_train_the_weights_of_two_local_processes(tmp_path, tmp_path_factory):
    import mlflow

    from schemas import save_config

    common = ["train.epochs=1", "tracking.log_checkpoint=false"]
    local_dir, nodes_dir = tmp_path / "local", tmp_path / "nodes"
    local = tiny_config(local_dir, [*common, "train.processes=2",
                                    f"tracking.uri={sqlite_uri(tmp_path_factory, local_dir)}"])
    uri = sqlite_uri(tmp_path_factory, nodes_dir)
    nodes = tiny_config(nodes_dir, [*common, "train.nodes=2", "train.processes=1", f"tracking.uri={uri}"])
    for cfg in (local, nodes):
        write_fixture_shards(cfg)
    done = subprocess.run([sys.executable, "-m", "pevl.cli", "train", str(save_config(local, local_dir / "cfg.yaml"))],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]

    with namespace_hosts(2) as hosts:
        procs = _start_nodes(hosts, str(save_config(nodes, nodes_dir / "cfg.yaml")))
        outs = _finish(procs)
    assert [p.returncode for p in procs] == [0, 0], "\n=====\n".join(o[-3000:] for o in outs)
    assert "rank 1 of 2" in outs[1] and "rank 0 of 2" in outs[0]
    a, b = _weights(local), _weights(nodes)
    assert a.keys() == b.keys()
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    log.info(f"two nodes vs two local processes: max |dw| = {worst:.2e}")
    assert worst <= TOLERANCE
    mlflow.set_tracking_uri(uri)
    try:
        runs = mlflow.search_runs(experiment_names=["pevl-synthdive"])
    finally:
        mlflow.set_tracking_uri(None)
    assert len(runs) == 1 and runs.iloc[0]["tags.world_size"] == "2"  # rank 0 alone logs


def test_a_dead_node_stops_the_survivor_and_a_restart_resumes(tmp_path, tmp_path_factory):
    from pevl import paths
    from pevl.train.checkpoint import load_checkpoint
    from schemas import save_config

    epochs = 60  # ~0.2 s each here: the kill lands mid-run
    cfg = tiny_config(tmp_path, [f"train.epochs={epochs}", "train.nodes=2", "train.processes=1",
                                 "train.dist_timeout_s=60", "tracking.log_checkpoint=false",
                                 f"tracking.uri={sqlite_uri(tmp_path_factory, tmp_path)}"])
    write_fixture_shards(cfg)
    cfg_path, last = str(save_config(cfg, tmp_path / "cfg.yaml")), paths.train_dir(cfg) / "last.pt"
    with namespace_hosts(2) as hosts:
        procs = _start_nodes(hosts, cfg_path)
        deadline = time.monotonic() + 240
        while not last.exists():  # the first epoch's checkpoint: training is under way
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                outs = _finish(procs, timeout=30)
                pytest.fail("no checkpoint written; nodes exited " + str([p.returncode for p in procs]) + ":\n"
                            + "\n=====\n".join(o[-3000:] for o in outs))
            time.sleep(0.05)
        hosts.kill(1)  # node 1 dies: its agent, its rank and its loader workers, no goodbye
        killed = time.monotonic()
        survivor = _finish(procs[:1], timeout=180)[0]
        waited = time.monotonic() - killed
        procs[1].wait()
        assert procs[0].returncode != 0, survivor[-3000:]
        assert "another training process or node stopped" in survivor, survivor[-3000:]
        assert f"resume from {last}" in survivor
        log.info(f"survivor stopped {waited:.1f} s after node 1 was killed")
        stopped_at = load_checkpoint(last)["epoch"]
        assert stopped_at >= 1 and stopped_at < epochs

        outs = _finish(_start_nodes(hosts, cfg_path))  # both nodes again: resume, not restart
    assert all("resumed from" in o for o in outs), "\n=====\n".join(o[-3000:] for o in outs)
    final = load_checkpoint(last)
    assert final["epoch"] == epochs and final["world_size"] == 2
    assert f"at epoch {stopped_at}" in outs[0]
