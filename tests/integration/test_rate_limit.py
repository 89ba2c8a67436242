"""The rate limit's budget leased from Redis in chunks: two instances together never admit more
than the limit in a window, lose at most a chunk each, and ask Redis once per chunk, not once
per request. Real uvicorn servers, a real Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import aiohttp
import pytest
import redis.asyncio as aioredis

from settings import Settings
from tests.conftest import RunningServer
from web.rate_limit import CHUNKS_PER_WINDOW, Counter

LIMIT = 200


async def _incrby_calls(client: aioredis.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_incrby", {}).get("calls", 0))


async def test_two_instances_share_a_leased_budget(settings: Settings, redis_url: str) -> None:
    shared = dataclasses.replace(settings, redis_url=redis_url, rate_limit_anonymous=LIMIT)
    async with (
        aioredis.Redis.from_url(redis_url) as client,
        RunningServer(shared) as first, RunningServer(shared) as second,
    ):
        servers = [first, second]
        async with aiohttp.ClientSession() as session:
            async def one(url: str) -> int:
                async with session.post(url, json={"query": "{ __typename }"}) as r:
                    await r.read()
                    return r.status

            for _ in range(5):  # all requests must land in one one-second window
                await asyncio.sleep(1 - time.time() % 1 + 0.01)
                calls_before = await _incrby_calls(client)
                window = int(time.time())
                statuses = await asyncio.gather(
                    *(one(s.graphql_url) for _ in range(150) for s in servers))
                if int(time.time()) == window:
                    break
            else:
                pytest.fail("could not fit the burst in one second")
            calls = await _incrby_calls(client) - calls_before
        chunk = LIMIT // CHUNKS_PER_WINDOW
        admitted = statuses.count(200)
        assert statuses.count(200) + statuses.count(429) == 300
        # never more than the limit; at most one unused chunk per instance lost
        assert LIMIT - 2 * chunk <= admitted <= LIMIT, admitted
        # a round trip per chunk (and one to learn the budget is gone), not per request
        assert calls <= LIMIT // chunk + 2 * len(servers), calls


async def test_a_counter_without_redis_counts_exactly() -> None:
    counter = Counter(None, "t")
    for _ in range(3):  # retried if the burst straddles a window
        window = int(time.time())
        results = [await counter.admit("ip:a", 5) for _ in range(8)]
        if int(time.time()) == window:
            break
    assert results == [True] * 5 + [False] * 3


async def test_an_unreachable_redis_fails_open(unused_tcp_port: int) -> None:
    counter = Counter.from_url(f"redis://127.0.0.1:{unused_tcp_port}/0", "t")
    try:
        async with asyncio.timeout(10):
            assert all([await counter.admit("ip:a", 2) for _ in range(5)])
    finally:
        await counter.close()
