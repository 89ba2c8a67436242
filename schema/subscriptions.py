"""The subscription resolvers bound to the GraphQL types they yield (from_domain): the
resolvers of schema/root.py's Subscription fields."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from resolvers import subscriptions
from resolvers.context import Info
from schema.events import StockEvent
from schema.types import Sku


def stock_events(
    info: Info, sku: str, after_sequence: int | None = None
) -> AsyncGenerator[StockEvent, None]:
    return subscriptions.stock_events(info, sku, after_sequence, StockEvent.from_domain)


def availability(
    info: Info, sku: str, throttle_ms: int | None = 0, channel: str | None = strawberry.UNSET
) -> AsyncGenerator[Sku, None]:
    return subscriptions.availability(
        info, sku, throttle_ms, Sku.from_domain,
        channel=None if channel is strawberry.UNSET else channel,
    )
