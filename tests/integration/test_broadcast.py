"""The live-event broadcast against the in-process backend and a real, killable redis-server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from broadcaster import Event
from redis.asyncio import Redis

from feed.backends import RESYNC, FeedUnavailable
from feed.broadcast import BoundedBroadcast, BoundedSubscriber, SubscriberOverflow, make_broadcast
from tests.redis_server import RedisServer

pytestmark = pytest.mark.asyncio


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


@contextlib.asynccontextmanager
async def connected(url: str | None, queue_size: int = 1000) -> AsyncIterator[BoundedBroadcast]:
    broadcast = make_broadcast(url, queue_size=queue_size)
    await broadcast.connect()
    try:
        yield broadcast
    finally:
        await broadcast.disconnect()


@pytest.fixture
async def broadcast(url: str) -> AsyncIterator[BoundedBroadcast]:
    async with connected(url) as broadcast:
        yield broadcast


async def receive(subscriber: BoundedSubscriber, timeout: float = 5.0) -> Event:
    async with asyncio.timeout(timeout):
        return await subscriber.get()


async def drain(subscriber: BoundedSubscriber) -> list[Event]:
    return [event async for event in subscriber]


def count_backend_calls(broadcast: BoundedBroadcast, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    backend: Any = broadcast._backend
    for name in ("subscribe", "unsubscribe"):
        original = getattr(backend, name)

        async def counted(channel: str, original: Any = original, name: str = name) -> None:
            calls.append(name)
            await original(channel)

        monkeypatch.setattr(backend, name, counted)
    return calls


async def test_events_arrive_in_publish_order(broadcast: BoundedBroadcast) -> None:
    async with broadcast.subscribe("sku:A") as subscriber, broadcast.subscribe("sku:B") as other:
        for n in range(50):
            await broadcast.publish("sku:A", str(n))
        await broadcast.publish("sku:B", "b")
        assert [(await receive(subscriber)).message for _ in range(50)] == [
            str(n) for n in range(50)
        ]
        assert await receive(other) == Event("sku:B", "b")


async def test_subscribers_of_one_channel_share_one_backend_subscription(
    broadcast: BoundedBroadcast, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_backend_calls(broadcast, monkeypatch)
    async with contextlib.AsyncExitStack() as stack:
        subscribers = await asyncio.gather(
            *(stack.enter_async_context(broadcast.subscribe("sku:A")) for _ in range(5))
        )
        assert calls == ["subscribe"]
        if url.startswith("redis"):
            async with Redis.from_url(url) as client:
                assert await client.pubsub_numsub("sku:A") == [(b"sku:A", 1)]
        await broadcast.publish("sku:A", "one")
        for subscriber in subscribers:
            assert await receive(subscriber) == Event("sku:A", "one")
    assert calls == ["subscribe", "unsubscribe"]


async def test_concurrent_subscribe_and_unsubscribe_keep_the_channel_consistent(
    broadcast: BoundedBroadcast, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_backend_calls(broadcast, monkeypatch)

    async def churn(rounds: int) -> None:
        for _ in range(rounds):
            async with broadcast.subscribe("sku:A"):
                await asyncio.sleep(0)

    await asyncio.gather(*(churn(n % 4 + 1) for n in range(20)))
    assert calls.count("subscribe") == calls.count("unsubscribe") >= 1
    async with broadcast.subscribe("sku:A") as subscriber:
        assert calls.count("subscribe") == calls.count("unsubscribe") + 1
        await broadcast.publish("sku:A", "still live")
        assert await receive(subscriber) == Event("sku:A", "still live")


async def test_full_queue_overflows_only_that_subscriber(url: str) -> None:
    async with connected(url, queue_size=3) as broadcast:
        async with broadcast.subscribe("sku:A") as slow, broadcast.subscribe("sku:A") as fast:
            for n in range(10):
                await broadcast.publish("sku:A", str(n))
                assert await receive(fast) == Event("sku:A", str(n))
            with pytest.raises(SubscriberOverflow):
                await receive(slow)
            with pytest.raises(SubscriberOverflow):
                async for _ in slow:
                    pass
            await broadcast.publish("sku:A", "after")
            assert await receive(fast) == Event("sku:A", "after")


async def test_disconnect_ends_waiting_subscribers(url: str) -> None:
    async with connected(url) as broadcast, broadcast.subscribe("sku:A") as subscriber:
        reader = asyncio.create_task(drain(subscriber))
        await asyncio.sleep(0)  # let the reader block on the empty queue
        await broadcast.disconnect()
        async with asyncio.timeout(2):
            assert await reader == []


async def test_a_batch_published_at_once_arrives_whole_and_in_order(
    broadcast: BoundedBroadcast,
) -> None:
    async with broadcast.subscribe("sku:A") as first, broadcast.subscribe("sku:B") as second:
        await broadcast.publish_many(
            [("sku:A" if n % 3 else "sku:B", str(n)) for n in range(300)])
        assert [(await receive(first)).message for _ in range(200)] == [
            str(n) for n in range(300) if n % 3]
        assert [(await receive(second)).message for _ in range(100)] == [
            str(n) for n in range(300) if not n % 3]


async def test_a_batch_fails_fast_while_redis_is_down(redis_server: RedisServer) -> None:
    loop = asyncio.get_running_loop()
    async with connected(redis_server.url) as broadcast:
        redis_server.stop()
        started = loop.time()
        with pytest.raises(FeedUnavailable):
            async with asyncio.timeout(3):
                await broadcast.publish_many([("sku:A", "lost"), ("sku:B", "lost")])
        assert loop.time() - started < 2
        await asyncio.to_thread(redis_server.start)


async def test_redis_outage_fails_fast_then_resyncs_and_delivers_again(
    redis_server: RedisServer,
) -> None:
    loop = asyncio.get_running_loop()
    async with connected(redis_server.url) as broadcast:
        async with broadcast.subscribe("sku:A") as first, broadcast.subscribe("sku:B") as second:
            await broadcast.publish("sku:A", "before")
            assert await receive(first) == Event("sku:A", "before")

            redis_server.stop()
            started = loop.time()
            with pytest.raises(FeedUnavailable):
                async with asyncio.timeout(3):
                    await broadcast.publish("sku:A", "lost")
            assert loop.time() - started < 2

            await asyncio.to_thread(redis_server.start)
            assert await receive(first, timeout=10) == Event("sku:A", RESYNC)
            assert await receive(second, timeout=10) == Event("sku:B", RESYNC)
            await broadcast.publish("sku:A", "after")
            await broadcast.publish("sku:B", "after")
            assert await receive(first) == Event("sku:A", "after")
            assert await receive(second) == Event("sku:B", "after")


async def test_subscribing_while_redis_is_down_resyncs_once_it_is_back(
    redis_server: RedisServer,
) -> None:
    redis_server.stop()
    async with contextlib.AsyncExitStack() as stack:
        async with asyncio.timeout(3):
            broadcast = await stack.enter_async_context(connected(redis_server.url))
            subscriber = await stack.enter_async_context(broadcast.subscribe("sku:A"))
        with pytest.raises(FeedUnavailable):
            await broadcast.publish("sku:A", "lost")

        await asyncio.to_thread(redis_server.start)
        assert await receive(subscriber, timeout=10) == Event("sku:A", RESYNC)
        await broadcast.publish("sku:A", "after")
        assert await receive(subscriber) == Event("sku:A", "after")
