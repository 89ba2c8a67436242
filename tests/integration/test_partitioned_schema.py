"""The migrations applied to the partitioned variant (tests/partitioned.py: stock_levels and
stock_events hash-partitioned by sku_id), served as usual: every partition takes rows, a SKU's
statements touch one partition, the ledger stays append-only and gap-free (SCALING.md)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from settings import Settings
from store import migrations
from tests.client import GraphQLClient
from tests.conftest import ADMIN, ADMIN_KEY, RunningServer, _admin, _with_database, database_name
from tests.partitioned import PARTITIONS, partitioned_core, variant_dir

SKUS = 40
SETUP = """mutation($s: UpsertSkuInput!) { upsertSku(input: $s) { userErrors { code } } }"""
SET = """mutation($i: SetStockInput!) { setStock(input: $i) { userErrors { code } } }"""
RESERVE = """mutation($i: ReserveInput!) { reserve(input: $i) {
  reservation { id } userErrors { code } } }"""
COMMIT = """mutation($i: CommitReservationInput!) { commitReservation(input: $i) {
  userErrors { code } } }"""


@pytest.fixture
async def variant_url(pg_url: str) -> AsyncIterator[str]:
    name = f"inv_part_{uuid.uuid4().hex[:12]}"
    await _admin(pg_url, f"CREATE DATABASE {name}")
    url = _with_database(pg_url, name)
    conn = await asyncpg.connect(url)
    try:
        await migrations.migrate(conn, variant_dir())
    finally:
        await conn.close()
    yield url
    await _admin(pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_only_the_named_tables_change() -> None:
    core = (migrations.MIGRATIONS_DIR / "0001_core.sql").read_text()
    rewritten = partitioned_core(core)
    assert rewritten.count("PARTITION BY HASH (sku_id)") == 2
    assert rewritten.count("PARTITION OF stock_events") == PARTITIONS
    # every other statement kept, each partition one more CREATE TABLE
    assert rewritten.count("CREATE TABLE") == core.count("CREATE TABLE") + 2 * PARTITIONS
    assert rewritten.count(";") == core.count(";") + 2 * PARTITIONS
    with pytest.raises(ValueError):
        partitioned_core(core, ("no_such_table",))


async def _fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def test_the_service_runs_on_partitioned_tables(variant_url: str) -> None:
    partitioned = await _fetch(variant_url, "SELECT partrelid::regclass::text AS t "
                                            "FROM pg_partitioned_table ORDER BY 1")
    assert [r["t"] for r in partitioned] == ["stock_events", "stock_levels"]
    settings = Settings(database_url=variant_url, admin_api_key=ADMIN_KEY,
                        feed_prefix=database_name(variant_url))
    async with RunningServer(settings) as server, aiohttp.ClientSession() as session:
        client = GraphQLClient(server.graphql_url, session, ADMIN)
        await client.data("""mutation { upsertLocation(input: {code: "WH", name: "W",
          kind: WAREHOUSE}) { userErrors { code } } }""")
        for n in range(SKUS):
            sku = f"P-{n}"
            assert (await client.data(SETUP, {"s": {"code": sku, "name": sku}}))[
                "upsertSku"]["userErrors"] == []
            await client.data(SET, {"i": {"sku": sku, "location": "WH", "onHand": 5}})
            held = (await client.data(RESERVE, {"i": {"sku": sku, "location": "WH",
                                                      "quantity": 2}}))["reserve"]
            assert held["userErrors"] == []
            done = await client.data(COMMIT, {"i": {"reservationId": held["reservation"]["id"]}})
            assert done["commitReservation"]["userErrors"] == []

    spread = await _fetch(variant_url, "SELECT tableoid::regclass::text AS p, count(*) AS n "
                                       "FROM stock_events GROUP BY 1")
    assert len(spread) == PARTITIONS  # 40 SKUs' entries land in every partition
    assert sum(r["n"] for r in spread) == SKUS * 3  # set, reserved, committed
    gaps = await _fetch(variant_url, """SELECT sku_id FROM stock_events GROUP BY sku_id
        HAVING max(sequence) <> count(*) OR min(sequence) <> 1""")
    assert gaps == []
    levels = await _fetch(variant_url, "SELECT on_hand, reserved FROM stock_levels")
    assert {(r["on_hand"], r["reserved"]) for r in levels} == {(3, 0)}

    plan = await _fetch(variant_url, "EXPLAIN SELECT * FROM stock_events "
                                     "WHERE sku_id = 7 AND sequence > 1")
    touched = {word for r in plan for word in r[0].split()
               if re.fullmatch(r"stock_events_p\d+", word)}
    assert len(touched) == 1, plan  # one SKU's ledger read prunes to one partition

    conn = await asyncpg.connect(variant_url)
    try:
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await conn.execute("UPDATE stock_events SET reference = 'x' WHERE sku_id = 1")
    finally:
        await conn.close()


async def test_the_suite_template_follows_test_partitioned(database_url: str) -> None:
    """What TEST_PARTITIONED=1 runs the suite on (tests/conftest.py's template)."""
    found = await _fetch(database_url, "SELECT count(*) AS n FROM pg_partitioned_table")
    assert found[0]["n"] == (2 if os.environ.get("TEST_PARTITIONED") == "1" else 0)
