"""A small, realistic demo catalogue: a few locations and a few hundred SKUs with stock."""

from __future__ import annotations

import functools
import random

import asyncpg

from domain.model import LocationKind
from domain.outcome import Outcome
from service.inventory import Inventory
from store import catalog, levels

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
COLOURS = ["BLK", "WHT", "NVY", "OLV", "RED", "GRY"]
SIZES = ["XS", "S", "M", "L", "XL", "XXL"]


async def seed(inventory: Inventory, *, rng: random.Random | None = None) -> int:
    """Load the catalogue unless SKUs exist already; returns the number of SKUs created."""
    rng = rng or random.Random(42)
    async with inventory.pool.acquire() as conn:
        if await conn.fetchval("SELECT count(*) FROM skus"):
            return 0
        for code, name, kind in LOCATIONS:
            await catalog.upsert_location(conn, code, name, kind)
    created = 0
    for product, title in PRODUCTS:
        for colour in COLOURS:
            for size in SIZES:
                code = f"{product}-{colour}-{size}"
                name = f"{title}, {colour.lower()}, {size}"
                await inventory.mutate(
                    functools.partial(_stock, rng=rng, code=code, name=name),
                    field="seed",
                    arguments={},
                )
                created += 1
    return created


async def _stock(
    conn: asyncpg.Connection, *, rng: random.Random, code: str, name: str
) -> Outcome:
    await catalog.upsert_sku(conn, code, name, None)
    outcome = Outcome()
    for location, _, kind in LOCATIONS:
        if kind is LocationKind.STORE and rng.random() < 0.4:
            continue
        on_hand = rng.choice([0, 2, 5, 12, 40, 120]) if kind is LocationKind.WAREHOUSE else (
            rng.randint(0, 8)
        )
        step = await levels.set_stock(conn, code, location, on_hand, 0, 0, "seed")
        outcome.events += step.events
    return outcome
