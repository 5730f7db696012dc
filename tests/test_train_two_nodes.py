"""Two-node training for real: `torchrun --nnodes 2 --nproc-per-node 1`, one node per namespace host.

tests/netns.py makes two hosts joined by veth pairs; each runs `torchrun ... -m pevl.cli train`
inside its namespace, the c10d rendezvous on host 0's address, gloo over the veth network
(GLOO_SOCKET_IFNAME=eth0). The work dir lies on the shared filesystem, as an NFS mount would.
The weights must equal those of the same two ranks as two processes on one host
(`train.processes=2`, today's DDP test) within 1e-6, and rank 0 alone logs to MLflow. Each node
needs `--local-addr` (and node 0 `--rdzv-conf is_host=1`): a namespace's hostname resolves to the
machine's main address, which the other namespace cannot reach. A node dying mid-run is not tested.
"""

import os
import subprocess
import sys

import pytest
import torch

from netns import namespace_hosts
from pevl import services
from train_fixtures import ROOT, sqlite_uri, tiny_config, write_fixture_shards

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

    cfg_path = str(save_config(nodes, nodes_dir / "cfg.yaml"))
    with namespace_hosts(2) as hosts:
        endpoint = f"{hosts.addresses[0]}:{services.free_port()}"
        env = {**_base_env(), "GLOO_SOCKET_IFNAME": "eth0", "OMP_NUM_THREADS": "1"}
        procs = []
        try:
            for rank in range(2):
                command = hosts.exec(rank, [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2",
                                            "--nproc-per-node", "1", "--node-rank", str(rank),
                                            "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint,
                                            "--rdzv-id", "pevl-test",
                                            # the namespace's own address is not what its hostname resolves to
                                            "--rdzv-conf", f"is_host={int(rank == 0)}",
                                            "--local-addr", hosts.addresses[rank],
                                            "-m", "pevl.cli", "train", cfg_path])
                procs.append(subprocess.Popen(command, cwd=ROOT, env=env, text=True,
                                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            outs = [p.communicate(timeout=300)[0] for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    assert [p.returncode for p in procs] == [0, 0], "\n=====\n".join(o[-3000:] for o in outs)
    assert "rank 1 of 2" in outs[1] and "rank 0 of 2" in outs[0]
    a, b = _weights(local), _weights(nodes)
    assert a.keys() == b.keys()
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    print(f"\ntwo nodes vs two local processes: max |dw| = {worst:.2e}")
    assert worst <= TOLERANCE
    mlflow.set_tracking_uri(uri)
    try:
        runs = mlflow.search_runs(experiment_names=["pevl-synthdive"])
    finally:
        mlflow.set_tracking_uri(None)
    assert len(runs) == 1 and runs.iloc[0]["tags.world_size"] == "2"  # rank 0 alone logs
