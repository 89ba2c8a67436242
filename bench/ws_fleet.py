"""The fan-out's subscribers spread over generator processes, at most `per_process` sockets
each; bench/fanout.py drives it.

Each socket is an open file and the hard limit here is 20,000 (`ulimit -Hn`). The first
`per_process` run in this process, as before; the rest in child processes (`python -m
bench.ws_fleet`), driven by JSON lines on their stdin and answering one JSON line each on
stdout: subscribe, record, count, stop (the deliveries recorded)."""

from __future__ import annotations

import asyncio
import resource
import sys
from typing import Any

import orjson

from bench.ws import Hub, Subscriber, subscribe_many


def open_files_to_hard_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class Child:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.size = 0

    async def ask(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(orjson.dumps(command) + b"\n")
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"generator process {self.process.pid} ended")
        answer: dict[str, Any] = orjson.loads(line)
        return answer


class Fleet:
    """`hub` is this process's; `delivered`, `commit_to_client` and `arrivals` add the
    children's once `stop` has collected them."""

    def __init__(self, hub: Hub, deflate: bool, token: str | None, per_process: int) -> None:
        self.hub = hub
        self.deflate = deflate
        self.token = token
        self.per_process = per_process
        self.local: list[Subscriber] = []
        self.children: list[Child] = []
        self.failed = 0
        self.errors: list[str] = []

    @property
    def processes(self) -> int:
        return 1 + len(self.children)

    async def subscribe(self, port: int, skus: list[str]) -> None:
        here = max(0, min(len(skus), self.per_process - len(self.local)))
        failed = self.hub.failed
        self.local += await subscribe_many(port, skus[:here], self.hub, self.deflate,
                                           token=self.token)
        if self.hub.failed > failed:
            self.failed += self.hub.failed - failed
            self.errors += self.hub.errors
        rest = skus[here:]
        while rest:
            child = self.children[-1] if self.children else None
            if child is None or child.size >= self.per_process:
                child = await self._spawn()
            take, rest = rest[:self.per_process - child.size], rest[self.per_process - child.size:]
            answer = await child.ask(op="subscribe", port=port, skus=take, deflate=self.deflate,
                                     token=self.token)
            child.size += len(take)
            self.failed += answer["failed"]
            self.errors += answer["errors"]

    async def _spawn(self) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.ws_fleet", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, limit=2**30)
        self.children.append(Child(process))
        return self.children[-1]

    async def record(self) -> None:
        self.hub.recording = True
        self.hub.delivered = 0
        self.hub.commit_to_client.clear()
        self.hub.arrivals.clear()
        for child in self.children:
            await child.ask(op="record")

    async def delivered(self) -> int:
        counts = [(await child.ask(op="count"))["delivered"] for child in self.children]
        return self.hub.delivered + sum(counts)

    async def stop(self) -> None:
        """Recording ends; the children's deliveries join this process's hub."""
        self.hub.recording = False
        for child in self.children:
            found = await child.ask(op="stop")
            self.hub.delivered += found["delivered"]
            self.hub.commit_to_client += found["commit_to_client"]
            self.hub.arrivals += [(rid, t) for rid, t in found["arrivals"]]

    async def close(self) -> None:
        for sub in self.local:
            sub.close()
        for child in self.children:
            assert child.process.stdin is not None
            child.process.stdin.close()
            try:
                async with asyncio.timeout(10):
                    await child.process.wait()
            except TimeoutError:
                child.process.kill()


async def _serve_commands() -> None:
    """A child: its own hub and subscribers, commanded from stdin."""
    open_files_to_hard_limit()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**30)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    hub = Hub()
    subscribers: list[Subscriber] = []
    while line := await reader.readline():
        command = orjson.loads(line)
        op = command["op"]
        answer: dict[str, Any] = {}
        if op == "subscribe":
            failed = hub.failed
            subscribers += await subscribe_many(command["port"], command["skus"], hub,
                                                command["deflate"], token=command["token"])
            answer = {"failed": hub.failed - failed, "errors": hub.errors}
        elif op == "record":
            hub.recording, hub.delivered = True, 0
            hub.commit_to_client.clear()
            hub.arrivals.clear()
        elif op == "count":
            answer = {"delivered": hub.delivered}
        elif op == "stop":
            hub.recording = False
            answer = {"delivered": hub.delivered, "commit_to_client": hub.commit_to_client,
                      "arrivals": hub.arrivals}
        sys.stdout.buffer.write(orjson.dumps(answer) + b"\n")
        sys.stdout.buffer.flush()
    for sub in subscribers:
        sub.close()


if __name__ == "__main__":
    try:  # the loop the bench's own process runs (bench/__main__.py): with asyncio's default
        import uvloop  # loop 10,000 sockets per child added their own tail to the p99s
    except ImportError:
        asyncio.run(_serve_commands())
    else:
        uvloop.run(_serve_commands())
