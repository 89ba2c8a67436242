"""Load shapes: closed loops (N clients, each sends its next request when the last one
answered) and a fixed rate; warm-up first, then a measured window."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bench.http import GraphQLClient

# (status, body) -> an outcome label; "error" outcomes are counted and shown.
Classify = Callable[[int, bytes], str]


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    # every outcome, warm-up and stragglers included: what the database must show afterwards
    total: collections.Counter[str] = field(default_factory=collections.Counter)
    seconds: float = 0.0

    def rate(self, outcome: str) -> float:
        return self.outcomes[outcome] / self.seconds if self.seconds else 0.0


@dataclass
class _Window:
    recording: bool = False
    done: bool = False


async def closed_loop(
    clients: int, warmup: float, seconds: float,
    call: Callable[[int], Awaitable[str]],
    on_start: Callable[[], None] = lambda: None,
    on_stop: Callable[[], None] = lambda: None,
) -> Tally:
    """`call(worker)` performs one request and returns its outcome; latency is measured
    around it. Only calls that start and end inside the window count."""
    tally = Tally()
    window = _Window()

    async def worker(index: int) -> None:
        while not window.done:
            recording = window.recording
            t0 = time.perf_counter()
            try:
                outcome = await call(index)
            except Exception as exc:  # a dropped connection is an outcome, not a crash
                outcome = f"error:{type(exc).__name__}"
                await asyncio.sleep(0.05)
            tally.total[outcome] += 1
            if recording and window.recording:
                tally.latencies.append(time.perf_counter() - t0)
                tally.outcomes[outcome] += 1

    tasks = [asyncio.create_task(worker(i)) for i in range(clients)]
    try:
        await asyncio.sleep(warmup)
        on_start()
        window.recording = True
        started = time.perf_counter()
        await asyncio.sleep(seconds)
        window.recording = False
        tally.seconds = time.perf_counter() - started
        on_stop()
    finally:
        window.done = True
        await asyncio.gather(*tasks, return_exceptions=True)
    return tally


async def graphql_closed_loop(
    port: int, token: str | None, clients: int, warmup: float, seconds: float,
    payload: Callable[[GraphQLClient], bytes], classify: Classify,
    on_start: Callable[[], None] = lambda: None,
    on_stop: Callable[[], None] = lambda: None,
) -> Tally:
    """One kept-alive connection per client."""
    pool = [GraphQLClient(port, token) for _ in range(clients)]
    sem = asyncio.Semaphore(100)

    async def connect(c: GraphQLClient) -> None:
        async with sem:
            await c.connect()

    await asyncio.gather(*(connect(c) for c in pool))

    async def call(index: int) -> str:
        client = pool[index]
        status, body = await client.post(payload(client))
        return classify(status, body)

    try:
        return await closed_loop(clients, warmup, seconds, call, on_start, on_stop)
    finally:
        for c in pool:
            c.close()


async def fixed_rate(
    rate: float, connections: int, stop: asyncio.Event,
    send: Callable[[int], Awaitable[str]],
) -> Tally:
    """About `rate` calls per second over `connections` workers until `stop` is set; a worker
    that falls behind catches up at once (the server's pace then sets the rate)."""
    tally = Tally()
    started = time.perf_counter()

    async def worker(index: int) -> None:
        due = started + index / rate
        while not stop.is_set():
            delay = due - time.perf_counter()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                    return
                except TimeoutError:
                    pass
            due += connections / rate
            t0 = time.perf_counter()
            try:
                outcome = await send(index)
            except Exception as exc:
                outcome = f"error:{type(exc).__name__}"
            tally.total[outcome] += 1
            tally.latencies.append(time.perf_counter() - t0)
            tally.outcomes[outcome] += 1

    await asyncio.gather(*(worker(i) for i in range(connections)))
    tally.seconds = time.perf_counter() - started
    return tally
