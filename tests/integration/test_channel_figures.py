"""resolvers.channel_feed.ChannelFigures against real levels: set from each event's level at
the channel's locations, blind to other locations, re-read after a sequence gap, deaf to an
event it has already counted."""

from __future__ import annotations

from domain.model import AdjustmentReason, LocationKind
from resolvers.channel_feed import ChannelFigures
from service import cataloguing, channels, stocking
from service.inventory import Inventory
from store import catalog


async def _adjust(inventory: Inventory, location: str, delta: int):  # type: ignore[no-untyped-def]
    reason = AdjustmentReason.RESTOCK if delta > 0 else AdjustmentReason.SALE
    outcome = await stocking.adjust(inventory, sku="S", location=location, delta=delta,
                                    reason=reason, reference=None)
    assert outcome.error is None
    return outcome.events[0]


async def test_channel_figures_follow_events_and_fill_gaps(inventory: Inventory) -> None:
    for code in ("L1", "L2", "L3"):
        await cataloguing.upsert_location(inventory, code=code, name=code,
                                          kind=LocationKind.WAREHOUSE)
    await cataloguing.upsert_sku(inventory, code="S", name="S", low_stock_threshold=3)
    for code, on_hand in (("L1", 3), ("L2", 5), ("L3", 7)):
        await stocking.set_stock(inventory, sku="S", location=code, on_hand=on_hand,
                                 safety_stock=None, expected_version=None, reference=None)
    made = await channels.upsert_channel(inventory, code="web", name="Web", locations=["L2", "L1"])
    assert made.channel is not None
    async with inventory.pool.acquire() as conn:
        sku = (await catalog.skus_by_code(conn, ["S"]))["S"]
    figures = ChannelFigures(inventory.pool, made.channel, sku)
    shown = await figures.start()
    assert (shown.available, shown.sequence) == (8, 3)
    outside = await _adjust(inventory, "L3", -7)
    shown = await figures.apply(shown, outside)
    assert (shown.available, shown.sequence, shown.on_hand) == (8, 4, 8)
    shown = await figures.apply(shown, await _adjust(inventory, "L1", -2))
    assert (shown.available, shown.status.value) == (6, "IN_STOCK")
    assert await figures.apply(shown, outside) is shown  # counted already
    await _adjust(inventory, "L2", -4)  # dropped by a coalescing feed
    shown = await figures.apply(shown, await _adjust(inventory, "L1", 1))
    assert (shown.available, shown.status.value, shown.sequence) == (3, "LOW_STOCK", 7)
