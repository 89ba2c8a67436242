"""A throwaway 3-node NATS cluster with JetStream (routes between the nodes, a server_name and a
store directory each), whose nodes tests SIGKILL one by one (tests/integration/test_nats_cluster.py)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.broker_process import BrokerProcess
from tests.conftest import free_port


class NatsNode(BrokerProcess):
    name = "nats-node"

    def __init__(self, binary: str, server_name: str, cluster_port: int,
                 routes: list[int]) -> None:
        super().__init__(binary, "nats")
        self.server_name = server_name
        self.cluster_port = cluster_port
        self.routes = routes
        self.monitor_port = free_port()

    def command(self) -> list[str]:
        config = Path(self._dir.name) / "nats.conf"
        routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in self.routes)
        config.write_text(
            f"server_name: {self.server_name}\n"
            f"listen: 127.0.0.1:{self.port}\n"
            f"http: 127.0.0.1:{self.monitor_port}\n"
            f"jetstream {{ store_dir: \"{self._dir.name}/js\" }}\n"
            f"cluster {{ name: inventory-test, listen: 127.0.0.1:{self.cluster_port}, "
            f"routes: [{routes}] }}\n")
        return [self.binary, "-c", str(config)]

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                return sock.recv(4).startswith(b"INFO")
        except OSError:
            return False


class NatsCluster:
    """`url` lists every node, comma-separated, as EVENT_STREAM_URL takes it."""

    def __init__(self, binary: str, size: int = 3) -> None:
        cluster_ports = [free_port() for _ in range(size)]
        self.nodes = [
            NatsNode(binary, f"n{i + 1}", port, [p for p in cluster_ports if p != port])
            for i, port in enumerate(cluster_ports)]
        self.url = ",".join(node.url for node in self.nodes)

    def node(self, server_name: str) -> NatsNode:
        return next(n for n in self.nodes if n.server_name == server_name)

    def client_node(self, name: str) -> NatsNode | None:
        """The live node a client named `name` is connected to (the monitoring port's /connz)."""
        import json
        import urllib.request

        for node in self.nodes:
            if not node.running:
                continue
            url = f"http://127.0.0.1:{node.monitor_port}/connz?limit=1000"
            with urllib.request.urlopen(url, timeout=2) as response:
                connections = json.load(response).get("connections") or []
            if any(c.get("name") == name for c in connections):
                return node
        return None

    def live_url(self) -> str:
        return next(n.url for n in self.nodes if n.running)

    async def await_jetstream(self, timeout: float = 30.0) -> None:
        """Until the cluster's JetStream answers (its meta leader is elected), bounded."""
        import nats

        async with asyncio.timeout(timeout):
            while True:
                try:
                    nc = await nats.connect(self.live_url(), connect_timeout=1,
                                            allow_reconnect=False)
                    try:
                        await nc.jetstream(timeout=1).account_info()
                        return
                    finally:
                        await nc.close()
                except Exception:
                    await asyncio.sleep(0.2)

    def __enter__(self) -> Self:
        try:
            for node in self.nodes:
                node.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for node in self.nodes:
            node.__exit__(kind, exc, tb)
