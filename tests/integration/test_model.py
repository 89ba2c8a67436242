"""Model-based test: random interleavings of stock changes against a plain in-memory model.

Each step runs the real store function through Inventory.mutate on PostgreSQL; the model says
whether it must succeed or fail with which code, and afterwards the database must equal it.
Bundle K is made of plain SKUs and redefined now and then: its holds hold every component at
one location, carts sum its demand with plain lines', and a hold keeps what it was made with.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from domain.rules import Limits
from service.inventory import Inventory
from store import database
from tests.stock_model.holds import HoldRules
from tests.stock_model.moving import MovingRules
from tests.stock_model.stock import StockRules


class StockMachine(HoldRules, StockRules, MovingRules):
    """Every rule of the three families over one model and one database."""


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def model_url(pg_url: str, template_url: str) -> Iterator[str]:
    """A database of its own, cloned from the migrated template (a sync twin of database_url)."""
    name = f"inv_model_{uuid.uuid4().hex[:12]}"
    template = urlsplit(template_url).path.lstrip("/")
    asyncio.run(_admin(pg_url, f"CREATE DATABASE {name} TEMPLATE {template}"))
    yield urlunsplit(urlsplit(pg_url)._replace(path=f"/{name}"))
    asyncio.run(_admin(pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def test_random_interleavings_match_the_model(model_url: str) -> None:
    with asyncio.Runner() as runner:
        pool = runner.run(database.create_pool(model_url, min_size=1, max_size=2))
        try:
            StockMachine.runner = runner
            StockMachine.inventory = Inventory(pool=pool, limits=Limits())
            run_state_machine_as_test(StockMachine, settings=settings(
                max_examples=int(os.environ.get("MODEL_EXAMPLES", "50")), stateful_step_count=30,
                deadline=None))
        finally:
            runner.run(pool.close())

