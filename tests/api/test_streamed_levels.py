"""A subscription over HTTP streaming keeps its request's context for as long as it streams,
and that context's loaders cache what they read: each event's `levels` must still be that
event's, not the first event's (graphql-sse and multipart)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import pytest

from tests.api.test_subscriptions import restock
from tests.client import GraphQLClient
from tests.conftest import RunningServer

WATCH = """subscription { availability(sku: "SKU-1") {
  available sequence levels { location { code } available } } }"""
VALUE = re.compile(rb'"availability":(\{.*?\]\})')
CHANGES = 3


@pytest.mark.parametrize("accept", ["text/event-stream",
                                    'multipart/mixed;subscriptionSpec="1.0",application/json'])
async def test_every_streamed_event_carries_its_own_levels(
    server: RunningServer, catalogue: GraphQLClient, accept: str
) -> None:
    seen: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session, session.post(
        server.graphql_url, json={"query": WATCH}, headers={"Accept": accept}
    ) as response:
        assert response.status == 200
        buffer = b""
        async with asyncio.timeout(15):
            while len(seen) < CHANGES + 1:
                buffer += await response.content.readany()
                found = list(VALUE.finditer(buffer))
                for match in found:
                    seen.append(json.loads(match.group(1)))
                    if len(seen) <= CHANGES:
                        await restock(catalogue, 5)
                if found:
                    buffer = buffer[found[-1].end():]
    assert [e["available"] for e in seen] == [14, 19, 24, 29]
    for event in seen:  # SKU-1: WH-A takes the restocks, ST-B stays at 4
        by_code = {lv["location"]["code"]: lv["available"] for lv in event["levels"]}
        assert by_code == {"WH-A": event["available"] - 4, "ST-B": 4}, event
