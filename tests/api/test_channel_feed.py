"""The live `availability(sku, channel)` subscription: a channel's figure, pushed only when it
moves, beside subscribers of another channel and of the SKU-wide figure on the same SKU."""

from __future__ import annotations

import asyncio

import pytest
from gql.transport.exceptions import TransportQueryError

from tests.api.test_channels import RESERVE, channels
from tests.api.test_mutations import ADJUST, call
from tests.api.test_subscriptions import PROTOCOLS, Feed
from tests.client import GraphQLClient
from tests.conftest import RunningServer

__all__ = ["channels"]  # the fixture

AVAILABILITY = """subscription($sku: String!, $c: String) { availability(sku: $sku, channel: $c) {
  code available status sequence web: available(channel: "web") } }"""


async def _nothing_more(feed: Feed) -> None:
    with pytest.raises(TimeoutError):
        await feed.next(timeout=0.7)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_availability_follows_the_channels_figure(
    server: RunningServer, channels: GraphQLClient, protocol: str
) -> None:
    async with (Feed(server.ws_url, AVAILABILITY, {"sku": "SKU-1", "c": "web"}, protocol) as web,
                Feed(server.ws_url, AVAILABILITY, {"sku": "SKU-1", "c": "market"}, protocol)
                as market,
                Feed(server.ws_url, AVAILABILITY, {"sku": "SKU-1"}, protocol) as every):
        first = [(await f.next())["availability"] for f in (web, market, every)]
        assert [(v["available"], v["status"], v["web"]) for v in first] == [
            (14, "IN_STOCK", 14), (6, "IN_STOCK", 14), (20, "IN_STOCK", 14)]
        sequence = first[0]["sequence"]
        # WH-C is market's only: web's figure does not move, so web gets nothing
        p = await call(channels, ADJUST, "adjustStock",
                       {"sku": "SKU-1", "location": "WH-C", "delta": -4, "reason": "DAMAGE"})
        assert p["userErrors"] == []
        assert (await market.next())["availability"] == {
            "code": "SKU-1", "available": 2, "status": "LOW_STOCK", "sequence": sequence + 1,
            "web": 14}
        assert (await every.next())["availability"]["available"] == 16
        # WH-A is web's: market gets nothing
        p = await call(channels, RESERVE, "reserve",
                       {"sku": "SKU-1", "quantity": 3, "location": "WH-A"})
        assert p["userErrors"] == []
        assert (await web.next())["availability"] == {
            "code": "SKU-1", "available": 11, "status": "IN_STOCK", "sequence": sequence + 2,
            "web": 11}
        assert (await every.next())["availability"]["available"] == 13
        await asyncio.gather(_nothing_more(web), _nothing_more(market), _nothing_more(every))


async def test_an_unknown_channel_is_a_clean_error(
    server: RunningServer, channels: GraphQLClient
) -> None:
    feed = Feed(server.ws_url, AVAILABILITY, {"sku": "SKU-1", "c": "nope"}, PROTOCOLS[0])
    with pytest.raises(TransportQueryError, match="unknown channel") as raised:
        async with asyncio.timeout(10):
            await feed._run()
    assert "NOT_FOUND" in str(raised.value.errors)
