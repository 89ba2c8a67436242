"""A bundle's figures kept current from its components' live events, and what following them
costs its connection: the `availability` subscription of a bundle (resolvers.subscriptions)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import replace

import asyncpg
from graphql import GraphQLError

from domain.bundles import MAX_BUNDLE_COMPONENTS, Component, bundles_from
from domain.model import Channel, Sku, StockEvent
from feed.hub import Watch
from resolvers.context import Context
from service import bundle_views


@contextlib.contextmanager
def following(context: Context, components: int) -> Iterator[None]:
    """A bundle's availability follows one SKU stream per component (at most
    MAX_BUNDLE_COMPONENTS). On one connection those follows together stay within its
    subscription cap (MAX_SUBSCRIPTIONS_PER_CONNECTION), as many plain subscriptions would:
    past it the subscription is refused with TOO_MANY_CONNECTIONS; they are given back when it
    ends, however it ends."""
    if components > MAX_BUNDLE_COMPONENTS:
        raise GraphQLError(f"a bundle's availability follows at most {MAX_BUNDLE_COMPONENTS} "
                           "components", extensions={"code": "BAD_USER_INPUT"})
    if context.bundle_follows + components > context.max_follows:
        raise GraphQLError(
            f"this connection's bundle subscriptions follow {context.bundle_follows} "
            f"components already, and this one needs {components} (at most "
            f"{context.max_follows}); open another connection",
            extensions={"code": "TOO_MANY_CONNECTIONS"})
    context.bundle_follows += components
    try:
        yield
    finally:
        context.bundle_follows -= components


class BundleFigures:
    """Each component's on hand and available per location, read once in one statement with
    each component's ledger sequence, then set from each later event's level (a component's
    events come in its sequence order, each carrying its level after the change). A gap in a
    component's sequence, or a coalescing buffer that let events go, reads them all again.
    The bundle's figure at a location is domain.bundles' bundles_from; its available (with a
    channel: at the channel's locations only) and onHand (all locations) are their sums."""

    def __init__(self, pool: asyncpg.Pool, bundle: Sku, components: Sequence[Component],
                 channel: Channel | None, watch: Watch) -> None:
        self.pool = pool
        self.bundle = bundle
        self.components = tuple(components)
        self.ids = {c.sku: c.sku_id for c in components}
        self.places = channel.location_ids if channel is not None else None
        self.watch = watch
        self.last: dict[int, int] = {}
        self.on_hand: dict[int, dict[int, int]] = {}  # location id: {component id: figure}
        self.available: dict[int, dict[int, int]] = {}
        self.at: dict[int, tuple[int, int]] = {}  # location id: the bundle's (onHand, available)

    async def _read(self) -> None:
        self.watch.dropped = False
        levels, self.last = await bundle_views.component_levels(self.pool, list(self.ids.values()))
        self.on_hand, self.available = {}, {}
        for level in levels:
            self.on_hand.setdefault(level.location_id, {})[level.sku_id] = level.on_hand
            self.available.setdefault(level.location_id, {})[level.sku_id] = level.available
        self.at = {location: self._figures(location) for location in self.available}

    def _figures(self, location: int) -> tuple[int, int]:
        return (bundles_from(self.on_hand[location], self.components),
                bundles_from(self.available[location], self.components))

    def _sku(self) -> Sku:
        available = sum(figure for location, (_, figure) in self.at.items()
                        if self.places is None or location in self.places)
        on_hand = sum(figure for figure, _ in self.at.values())
        return replace(self.bundle, on_hand=on_hand, reserved=0, available=available,
                       sequence=0)

    async def start(self) -> Sku:
        await self._read()
        return self._sku()

    async def live(self) -> StockEvent | None:
        """The next event of a component, or None if it was one already counted."""
        event = await self.watch.next()
        sku_id = self.ids.get(event.sku)
        if sku_id is None or (event.sequence <= self.last.get(sku_id, 0)
                              and not self.watch.dropped):
            return None
        return event

    async def apply(self, shown: Sku, event: StockEvent) -> Sku:
        sku_id = self.ids[event.sku]
        if self.watch.dropped or event.sequence > self.last.get(sku_id, 0) + 1:
            await self._read()
            return self._sku()
        self.last[sku_id] = event.sequence
        if event.level is not None and event.location_id is not None:
            location = event.location_id
            self.on_hand.setdefault(location, {})[sku_id] = event.level.on_hand
            self.available.setdefault(location, {})[sku_id] = event.level.available
            self.at[location] = self._figures(location)
        return self._sku()
