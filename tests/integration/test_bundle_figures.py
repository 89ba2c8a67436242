"""resolvers.bundle_feed.BundleFigures against real levels: a bundle's figure set from its
components' events, each counted once, re-read after a sequence gap and after its coalescing
buffer let events go; with a channel, blind to the other locations."""

from __future__ import annotations

from domain.bundles import Component
from domain.model import AdjustmentReason, Channel, LocationKind, Sku, StockEvent
from feed.follower import Watch
from resolvers.bundle_feed import BundleFigures
from service import cataloguing, channels, stocking
from service.inventory import Inventory
from store import catalog


async def _adjust(inventory: Inventory, sku: str, location: str, delta: int) -> StockEvent:
    reason = AdjustmentReason.RESTOCK if delta > 0 else AdjustmentReason.SALE
    outcome = await stocking.adjust(inventory, sku=sku, location=location, delta=delta,
                                    reason=reason, reference=None)
    assert outcome.error is None, outcome.error
    return outcome.events[0]


async def _kit(inventory: Inventory) -> tuple[Sku, list[Component], Channel]:
    """KIT = 2 x A + 1 x B. A: 4 at L1, 6 at L2; B: 5 at L1, 1 at L2, 9 at L3 (no A there).
    KIT: L1 min(2, 5) = 2, L2 min(3, 1) = 1: 3 (threshold 2); channel web sells from L2 only."""
    for code in ("L1", "L2", "L3"):
        await cataloguing.upsert_location(inventory, code=code, name=code,
                                          kind=LocationKind.WAREHOUSE)
    for code in ("A", "B"):
        await cataloguing.upsert_sku(inventory, code=code, name=code, low_stock_threshold=None)
    for sku, location, on_hand in (("A", "L1", 4), ("A", "L2", 6), ("B", "L1", 5),
                                   ("B", "L2", 1), ("B", "L3", 9)):
        outcome = await stocking.set_stock(inventory, sku=sku, location=location,
                                           on_hand=on_hand, safety_stock=None,
                                           expected_version=None, reference=None)
        assert outcome.error is None
    made = await cataloguing.upsert_bundle(inventory, code="KIT", name="Kit",
                                           low_stock_threshold=2,
                                           components=[("A", 2), ("B", 1)])
    assert made.error is None
    web = await channels.upsert_channel(inventory, code="web", name="Web", locations=["L2"])
    assert web.channel is not None
    async with inventory.pool.acquire() as conn:
        skus = await catalog.skus_by_code(conn, ["KIT", "A", "B"])
    parts = [Component(skus["A"].id, "A", 2), Component(skus["B"].id, "B", 1)]
    return skus["KIT"], parts, web.channel


async def test_figures_follow_component_events_and_re_read_gaps(inventory: Inventory) -> None:
    kit, parts, _ = await _kit(inventory)
    assert (kit.available, kit.on_hand, kit.sequence) == (3, 3, 0)
    watch = Watch(100, coalesce=True)
    figures = BundleFigures(inventory.pool, kit, parts, None, watch)
    shown = await figures.start()
    assert (shown.available, shown.on_hand, shown.reserved, shown.sequence) == (3, 3, 0, 0)

    b_at_l3 = await _adjust(inventory, "B", "L3", -4)  # no A at L3: no KIT level there
    watch.offer(b_at_l3)
    assert await figures.live() is b_at_l3
    shown = await figures.apply(shown, b_at_l3)
    assert shown.available == 3
    watch.offer(b_at_l3)  # counted already
    assert await figures.live() is None

    shown = await figures.apply(shown, await _adjust(inventory, "A", "L1", -2))  # L1: 1
    assert (shown.available, shown.status.value, shown.on_hand) == (2, "LOW_STOCK", 2)

    await _adjust(inventory, "B", "L2", 5)  # not seen: the next event of B shows the gap
    shown = await figures.apply(shown, await _adjust(inventory, "B", "L1", -4))  # L1 B: 1
    # L1 min(1, 1) = 1, L2 min(3, 6) = 3
    assert (shown.available, shown.on_hand, figures.last[parts[1].sku_id]) == (4, 4, 6)


async def test_a_coalesced_buffer_reads_every_component_again(inventory: Inventory) -> None:
    kit, parts, _ = await _kit(inventory)
    watch = Watch(2, coalesce=True)
    figures = BundleFigures(inventory.pool, kit, parts, None, watch)
    shown = await figures.start()
    lost = await _adjust(inventory, "A", "L2", -6)  # KIT at L2: 0
    watch.offer(lost)
    watch.offer(await _adjust(inventory, "B", "L1", 1))
    last = await _adjust(inventory, "B", "L1", 1)
    watch.offer(last)  # full: A's event is let go with the others
    assert watch.dropped
    event = await figures.live()
    assert event is last
    shown = await figures.apply(shown, event)
    assert (shown.available, watch.dropped) == (2, False)  # A's change is in: L1 2, L2 0


async def test_with_a_channel_only_its_locations_count(inventory: Inventory) -> None:
    kit, parts, web = await _kit(inventory)
    figures = BundleFigures(inventory.pool, kit, parts, web, Watch(100, coalesce=True))
    shown = await figures.start()
    assert (shown.available, shown.status.value, shown.on_hand) == (1, "LOW_STOCK", 3)
    shown = await figures.apply(shown, await _adjust(inventory, "A", "L1", -4))  # not web's
    assert (shown.available, shown.on_hand) == (1, 1)
    shown = await figures.apply(shown, await _adjust(inventory, "B", "L2", 3))  # L2 min(3, 4)
    assert (shown.available, shown.status.value) == (3, "IN_STOCK")
