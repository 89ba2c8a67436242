"""A SKU's figures through one channel, kept current from its live events for the
`availability(channel)` subscription (used by resolvers.subscriptions)."""

from __future__ import annotations

from dataclasses import replace

import asyncpg

from domain.model import Channel, Sku, StockEvent
from service import views


class ChannelFigures:
    """The available of each of the channel's levels of one SKU: read once, then set from each
    event's level (events come in sequence order, each carrying its level's figures after the
    change). A gap in the sequence (a coalescing feed dropped events) reads the levels again."""

    def __init__(self, pool: asyncpg.Pool, channel: Channel, sku: Sku) -> None:
        self.pool = pool
        self.channel = channel
        self.sku_id = sku.id
        self.base = sku
        self.available: dict[int, int] = {}
        self.last = sku.sequence

    async def _read(self) -> None:
        levels = (await views.levels_of(self.pool, [self.sku_id])).get(self.sku_id, [])
        self.available = {level.location_id: level.available for level in levels
                          if level.location_id in self.channel.location_ids}

    def _total(self) -> int:
        return sum(self.available.values())

    async def start(self) -> Sku:
        await self._read()
        return replace(self.base, available=self._total())

    async def apply(self, shown: Sku, event: StockEvent) -> Sku:
        if event.sequence <= self.last:
            return shown
        if event.sequence > self.last + 1:
            await self._read()
        elif event.level is not None and event.location_id in self.channel.location_ids:
            self.available[event.location_id] = event.level.available
        self.last = event.sequence
        return replace(shown, on_hand=event.sku_on_hand, reserved=event.sku_reserved,
                       available=self._total(), sequence=event.sequence)
