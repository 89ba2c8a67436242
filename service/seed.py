"""A small, realistic demo catalogue (locations, a few hundred SKUs with stock, two channels, a
bundle) loaded through the API's use cases (called by cli.py `seed` and `serve --seed`)."""

from __future__ import annotations

import random
from collections.abc import Awaitable

from domain.model import LocationKind
from domain.outcome import Outcome
from service import cataloguing, channels, stocking
from service.inventory import Inventory
from store import catalog

LOCATIONS = [
    ("WH-EAST", "East distribution centre", LocationKind.WAREHOUSE),
    ("WH-WEST", "West distribution centre", LocationKind.WAREHOUSE),
    ("STORE-BERLIN", "Berlin Mitte store", LocationKind.STORE),
    ("STORE-PARIS", "Paris Marais store", LocationKind.STORE),
]
PRODUCTS = [
    ("TEE", "Organic cotton T-shirt"),
    ("HOOD", "Heavyweight hoodie"),
    ("JEAN", "Slim selvedge jeans"),
    ("SNKR", "Canvas sneaker"),
    ("CAP", "Six-panel cap"),
    ("SOCK", "Merino socks"),
    ("JKT", "Waxed field jacket"),
    ("BAG", "Roll-top backpack"),
]
CHANNELS = [
    ("web", "Web shop", ["WH-EAST", "WH-WEST"]),
    ("retail", "Stores", ["STORE-BERLIN", "STORE-PARIS"]),
]
BUNDLE = ("KIT-STARTER", "Starter kit: tee, two pairs of socks, cap",
          [("TEE-BLK-M", 1), ("SOCK-BLK-M", 2), ("CAP-BLK-M", 1)])
# The bundle's components get this stock (by location, in LOCATIONS' order), so the demo page's
# default SKU, TEE-BLK-M, is what the kit lacks: reserving one in another tab moves the kit
# (12 + 5 + 2 + 0 = 19 kits; 17 TEE-BLK-M through the web channel).
FIXED = {"TEE-BLK-M": (12, 5, 2, 0), "SOCK-BLK-M": (40, 40, 8, 8), "CAP-BLK-M": (20, 20, 3, 1)}
COLOURS = ["BLK", "WHT", "NVY", "OLV", "RED", "GRY"]
SIZES = ["XS", "S", "M", "L", "XL", "XXL"]


async def seed(inventory: Inventory, *, rng: random.Random | None = None) -> int:
    """Load the catalogue unless SKUs exist already; returns the number of SKUs created."""
    rng = rng or random.Random(42)
    async with inventory.pool.acquire() as conn:
        if await catalog.count_skus(conn):
            return 0
    for code, name, kind in LOCATIONS:
        await _succeeded(cataloguing.upsert_location(inventory, code=code, name=name, kind=kind))
    created = 0
    for product, title in PRODUCTS:
        for colour in COLOURS:
            for size in SIZES:
                code = f"{product}-{colour}-{size}"
                name = f"{title}, {colour.lower()}, {size}"
                await _succeeded(cataloguing.upsert_sku(
                    inventory, code=code, name=name, low_stock_threshold=None
                ))
                await _stock(inventory, rng, code)
                created += 1
    for code, name, locations in CHANNELS:
        await _succeeded(channels.upsert_channel(inventory, code=code, name=name,
                                                 locations=locations))
    code, name, components = BUNDLE
    await _succeeded(cataloguing.upsert_bundle(inventory, code=code, name=name,
                                               low_stock_threshold=None, components=components))
    return created + 1


async def _stock(inventory: Inventory, rng: random.Random, code: str) -> None:
    for n, (location, _, kind) in enumerate(LOCATIONS):
        if code in FIXED:
            on_hand = FIXED[code][n]
        elif kind is LocationKind.STORE and rng.random() < 0.4:
            continue
        else:
            on_hand = rng.choice([0, 2, 5, 12, 40, 120]) if kind is LocationKind.WAREHOUSE else (
                rng.randint(0, 8)
            )
        await _succeeded(stocking.set_stock(
            inventory, sku=code, location=location, on_hand=on_hand, safety_stock=0,
            expected_version=0, reference="seed",
        ))


async def _succeeded(step: Awaitable[Outcome]) -> None:
    outcome = await step
    if outcome.error is not None:
        raise RuntimeError(f"seeding failed: {outcome.error.message}")
