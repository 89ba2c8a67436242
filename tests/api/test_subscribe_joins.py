"""Subscribers that join a SKU stream already in use (feed/hub.py follow): a new subscriber's
replay is skipped when the stream covers it, so these check that joining while changes commit
still gives the snapshot and then every later event once, in order, and that a resume on a
stream other subscribers keep open still gets the events it missed."""

from __future__ import annotations

import asyncio

from tests.api.test_subscriptions import EVENTS, PROTOCOLS, Feed, restock
from tests.client import GraphQLClient
from tests.conftest import RunningServer

CHANGES = 30


async def test_joining_while_changes_commit_misses_and_doubles_nothing(
    server: RunningServer, catalogue: GraphQLClient
) -> None:
    async with Feed(server.ws_url, EVENTS, {"sku": "SKU-1"}, PROTOCOLS[0]) as keeper:
        first = (await keeper.next())["stockEvents"]["sequence"]
        last = first + CHANGES
        joiners = []
        for n in range(CHANGES):
            if n % 5 == 0:  # a subscriber joins as the next changes commit
                joiners.append(asyncio.create_task(_join(server, last, n)))
            await restock(catalogue)
        joined = await asyncio.gather(*joiners)
        kept = [e["stockEvents"]["sequence"] for e in await keeper.take(CHANGES)]
    assert kept == list(range(first + 1, last + 1))
    for seen in joined:
        assert seen == list(range(seen[0], last + 1)), seen
    assert len({seen[0] for seen in joined}) > 1, "every joiner got the same snapshot"


async def _join(server: RunningServer, last: int, n: int) -> list[int]:
    """The snapshot's sequence, then every event's, up to `last`."""
    async with Feed(server.ws_url, EVENTS, {"sku": "SKU-1"}, PROTOCOLS[n % 2]) as feed:
        snapshot = (await feed.next())["stockEvents"]
        assert snapshot["kind"] == "SNAPSHOT"
        seen = [snapshot["sequence"]]
        while seen[-1] < last:
            seen.append((await feed.next())["stockEvents"]["sequence"])
        return seen


async def test_resume_on_a_stream_kept_open_gets_the_missed_events(
    server: RunningServer, catalogue: GraphQLClient
) -> None:
    async with Feed(server.ws_url, EVENTS, {"sku": "SKU-1"}, PROTOCOLS[0]) as keeper:
        await keeper.next()
        async with Feed(server.ws_url, EVENTS, {"sku": "SKU-1"}, PROTOCOLS[1]) as feed:
            seen = (await feed.next())["stockEvents"]["sequence"]
        for _ in range(4):
            await restock(catalogue)
        await keeper.take(4)  # the stream delivered them: a resume must still replay them
        async with Feed(server.ws_url, EVENTS, {"sku": "SKU-1", "after": seen},
                        PROTOCOLS[0]) as feed:
            replayed = [e["stockEvents"]["sequence"] for e in await feed.take(4)]
            await restock(catalogue)
            live = (await feed.next())["stockEvents"]["sequence"]
    assert replayed == list(range(seen + 1, seen + 5))
    assert live == seen + 5
