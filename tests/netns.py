"""Several "hosts" on one machine for tests: network namespaces on a bridge, made and removed here.

`namespace_hosts(n)` makes a bridge with 10.213.X.1/24 on this machine (the "head node") and n
network namespaces, each joined to it by a veth pair with address 10.213.X.(i+2): one private
network that nothing else on the machine uses (X is chosen free of this machine's routes). The
filesystem is shared, as an NFS mount would be. Needs root (CI runs as root) and iproute2. Every
process still running in a namespace is killed, then the namespaces and the bridge are deleted
on exit, failures included.
"""

import os
import random
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Hosts:
    """The head node's bridge address and one namespace per host."""

    head: str  # this machine's address on the private network
    namespaces: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)

    def exec(self, i: int, command: list[str]) -> list[str]:
        """command, run inside host i's namespace."""
        return ["ip", "netns", "exec", self.namespaces[i], *command]

    def kill(self, i: int) -> None:
        """SIGKILL every process in host i's namespace (the node dies: agent, ranks, loader workers)."""
        _kill_inside(self.namespaces[i])


def _ip(*args: str) -> None:
    out = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {out.stderr.strip()}")


def _free_subnet() -> int:
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, timeout=30).stdout
    for _ in range(50):
        x = random.randint(1, 254)
        if f"10.213.{x}." not in routes:
            return x
    raise RuntimeError("no free 10.213.X.0/24 subnet")


def _kill_inside(namespace: str) -> None:
    out = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, timeout=30)
    for pid in out.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


@contextmanager
def namespace_hosts(n: int) -> Iterator[Hosts]:
    """n namespace hosts on a private bridge network with this machine; all removed on exit."""
    if os.geteuid() != 0:
        raise RuntimeError("network namespaces need root (CI runs as root)")
    tag = f"{os.getpid() % 10000:04d}{random.randint(0, 99):02d}"
    bridge, x = f"pvb{tag}", _free_subnet()
    hosts = Hosts(f"10.213.{x}.1")
    try:
        _ip("link", "add", bridge, "type", "bridge")
        _ip("addr", "add", f"{hosts.head}/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for i in range(n):
            namespace, veth, address = f"pevl-{tag}-{i}", f"pv{tag}{i}", f"10.213.{x}.{i + 2}"
            _ip("netns", "add", namespace)
            hosts.namespaces.append(namespace)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            _ip("link", "set", veth, "master", bridge)
            _ip("link", "set", veth, "up")
            _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", namespace, "link", "set", "eth0", "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
            hosts.addresses.append(address)
        yield hosts
    finally:
        for namespace in hosts.namespaces:
            _kill_inside(namespace)
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, timeout=30)
