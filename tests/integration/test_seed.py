"""`serve --seed`'s catalogue shows a bundle and channels out of the box: service.seed makes
them, with the figures its comments promise, and a second run changes nothing."""

from __future__ import annotations

from domain import bundle_stock
from service import bundle_views, views
from service.inventory import Inventory
from service.seed import seed


async def test_the_seed_makes_channels_and_a_bundle_with_known_figures(
    inventory: Inventory,
) -> None:
    assert await seed(inventory) == 8 * 6 * 6 + 1
    pool = inventory.pool
    found = await views.skus_by_code(pool, ["KIT-STARTER", "TEE-BLK-M"])
    kit, tee = found["KIT-STARTER"], found["TEE-BLK-M"]
    assert (kit.is_bundle, kit.available, kit.status.value) == (True, 19, "IN_STOCK")
    web = (await views.channels_by_code(pool, ["web"]))["web"]
    levels = (await views.levels_of(pool, [tee.id]))[tee.id]
    assert sum(level.available for level in levels if level.location_id in web.location_ids) == 17
    stock = (await bundle_views.stock_of(pool, [kit.id]))[kit.id]
    assert bundle_stock.available(stock, web.location_ids) == 17
    assert [c.code for c in await views.all_channels(pool)] == ["retail", "web"]
    assert await seed(inventory) == 0
