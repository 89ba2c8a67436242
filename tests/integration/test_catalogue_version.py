"""Migration 0018's catalogue version moves with every catalogue upsert and nothing else, and the
token a SKU read is vouched for with (store/catalogue_version.py) moves with its ledger."""

from __future__ import annotations

from domain.model import LocationKind
from service import cataloguing, channels, stocking, views
from service.inventory import Inventory


async def _version(inventory: Inventory) -> int:
    async with inventory.pool.acquire() as conn:
        found: int = await conn.fetchval("SELECT version FROM catalogue_version")
    return found


async def test_every_catalogue_upsert_moves_the_version(inventory: Inventory) -> None:
    steps = [
        lambda: cataloguing.upsert_location(inventory, code="WH-A", name="A",
                                            kind=LocationKind.WAREHOUSE),
        lambda: cataloguing.upsert_sku(inventory, code="SKU-1", name="One",
                                       low_stock_threshold=None),
        lambda: cataloguing.upsert_bundle(inventory, code="KIT", name="Kit",
                                          low_stock_threshold=None, components=[("SKU-1", 2)]),
        lambda: channels.upsert_channel(inventory, code="WEB", name="Web", locations=["WH-A"]),
    ]
    for step in steps:
        before = await _version(inventory)
        outcome = await step()
        assert outcome.error is None, outcome
        assert await _version(inventory) == before + 1
    # a refused upsert (a bundle's code through upsertSku) rolls its move back
    before = await _version(inventory)
    refused = await cataloguing.upsert_sku(inventory, code="KIT", name="x",
                                           low_stock_threshold=None)
    assert refused.error is not None and await _version(inventory) == before


async def test_the_token_moves_with_the_ledger_and_leaves_bundles_out(
    inventory: Inventory,
) -> None:
    await cataloguing.upsert_location(inventory, code="WH-A", name="A",
                                      kind=LocationKind.WAREHOUSE)
    for code in ("SKU-1", "SKU-2"):
        await cataloguing.upsert_sku(inventory, code=code, name=code, low_stock_threshold=None)
    first = await views.catalogue_token(inventory.pool, ["SKU-1", "NOPE"])
    assert first is not None and first[1:] == (("SKU-1",), (0,))
    await stocking.set_stock(inventory, sku="SKU-2", location="WH-A", on_hand=5,
                             safety_stock=None, expected_version=None, reference=None)
    assert await views.catalogue_token(inventory.pool, ["SKU-1", "NOPE"]) == first
    await stocking.set_stock(inventory, sku="SKU-1", location="WH-A", on_hand=5,
                             safety_stock=None, expected_version=None, reference=None)
    assert (await views.catalogue_token(inventory.pool, ["SKU-1"]))[1:] == (("SKU-1",), (1,))
    await cataloguing.upsert_bundle(inventory, code="KIT", name="Kit", low_stock_threshold=None,
                                    components=[("SKU-1", 1)])
    assert await views.catalogue_token(inventory.pool, ["SKU-1", "KIT"]) is None
