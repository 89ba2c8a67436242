"""The fan-out ceiling: raw Redis publish -> receive latency at the same rate, measured by
this process while the server fans out, so both see the same machine and the same load."""

from __future__ import annotations

import asyncio
import contextlib
import time

from redis import asyncio as aioredis


async def probe(url: str, channel: str, rate: float, stop: asyncio.Event) -> list[float]:
    publisher = aioredis.Redis.from_url(url)
    listener = aioredis.Redis.from_url(url)
    pubsub = listener.pubsub()
    await pubsub.subscribe(channel)
    latencies: list[float] = []

    async def receive() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                latencies.append(time.time() - float(message["data"]))

    receiver = asyncio.create_task(receive())
    try:
        while not stop.is_set():
            await publisher.publish(channel, repr(time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1 / rate)
        await asyncio.sleep(0.2)
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await listener.aclose()
        await publisher.aclose()
    return latencies
