"""One hold that cannot expire must not stop the others (service/expiry.py): poisoned rows,
made to fail by a trigger or a constraint in this test's database, are logged once and skipped."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from domain.model import LocationKind
from service import cataloguing, reserving, stocking
from service.expiry import Quarantine, expire_due, run_expiry
from service.inventory import Inventory
from tests.ledger_checks import assert_consistent

# Expiring a hold whose reference is 'poison-raise' fails with an error the store does not
# translate; one whose reference is 'poison-check' breaks a constraint (a translated error).
POISON = [
    """CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'poisoned hold'; END $$""",
    """CREATE TRIGGER poison BEFORE UPDATE ON reservations FOR EACH ROW
       WHEN (NEW.status = 'EXPIRED' AND OLD.reference = 'poison-raise')
       EXECUTE FUNCTION poison()""",
    """ALTER TABLE stock_events ADD CONSTRAINT poison
       CHECK (kind <> 'EXPIRED' OR reference IS DISTINCT FROM 'poison-check') NOT VALID""",
]


async def holds(inventory: Inventory, pool: asyncpg.Pool) -> dict[str, str]:
    """Holds of two SKUs, all due: the poisoned ones ran out first. Reference -> id."""
    for code in ("A", "B"):
        await cataloguing.upsert_sku(inventory, code=code, name=code, low_stock_threshold=1)
    await cataloguing.upsert_location(inventory, code="W", name="W", kind=LocationKind.WAREHOUSE)
    for code in ("A", "B"):
        await stocking.set_stock(inventory, sku=code, location="W", on_hand=100,
                                 safety_stock=None, expected_version=None, reference=None)
    ids: dict[str, str] = {}
    for n, (sku, reference) in enumerate([("A", "poison-raise"), ("A", "poison-check"),
                                          ("A", "a1"), ("B", "b1"), ("B", "b2"), ("A", "a2")]):
        outcome = await reserving.reserve(inventory, sku=sku, location="W", quantity=n + 1,
                                          ttl=600, reference=reference)
        assert outcome.reservation is not None, outcome.error
        ids[reference] = outcome.reservation.id
    async with pool.acquire() as conn:
        for n, reservation_id in enumerate(ids.values()):  # due, in the order made
            await conn.execute("UPDATE reservations SET expires_at = now() - make_interval("
                               "secs => $2) WHERE id = $1", reservation_id, 100.0 - n)
        for statement in POISON:
            await conn.execute(statement)
    return ids


async def statuses(pool: asyncpg.Pool) -> dict[str, str]:
    async with pool.acquire() as conn:
        return {r["reference"]: r["status"]
                for r in await conn.fetch("SELECT reference, status FROM reservations")}


async def test_a_hold_that_cannot_expire_is_logged_and_skipped(
    inventory: Inventory, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await holds(inventory, pool)
    quarantine = Quarantine()
    with caplog.at_level(logging.WARNING, logger="service.expiry"):
        assert await expire_due(inventory, quarantine=quarantine) == 4
    assert await statuses(pool) == {"poison-raise": "ACTIVE", "poison-check": "ACTIVE",
                                    "a1": "EXPIRED", "b1": "EXPIRED", "b2": "EXPIRED",
                                    "a2": "EXPIRED"}
    lines = [r for r in caplog.records if r.name == "service.expiry"]
    assert [r.getMessage().split(" could not")[0] for r in lines] == [
        f"reservation {ids['poison-raise']}", f"reservation {ids['poison-check']}"]
    assert all(r.exc_info is None and r.levelno == logging.WARNING for r in lines)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="service.expiry"):  # quarantined: not retried
        assert await expire_due(inventory, quarantine=quarantine) == 0
    assert not [r for r in caplog.records if r.name == "service.expiry"]
    await assert_consistent(pool)


async def test_the_quarantine_ends_and_a_healed_hold_expires(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    await holds(inventory, pool)
    quarantine = Quarantine(retry_after=0.0)
    assert await expire_due(inventory, quarantine=quarantine) == 4
    async with pool.acquire() as conn:
        await conn.execute("DROP TRIGGER poison ON reservations")
        await conn.execute("ALTER TABLE stock_events DROP CONSTRAINT poison")
    assert await expire_due(inventory, quarantine=quarantine) == 2
    assert set((await statuses(pool)).values()) == {"EXPIRED"}
    await assert_consistent(pool)


async def test_the_background_sweep_expires_the_others_on_time(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    await holds(inventory, pool)
    sweep = asyncio.create_task(run_expiry(inventory, interval=0.05, retention_hours=24))
    try:
        async with asyncio.timeout(10):
            while list((await statuses(pool)).values()).count("EXPIRED") < 4:
                await asyncio.sleep(0.05)
    finally:
        sweep.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sweep
    assert (await statuses(pool))["poison-raise"] == "ACTIVE"
    await assert_consistent(pool)


async def test_concurrent_sweepers_share_the_work_around_the_poisoned_holds(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    """As several instances do: each sweeper skips what another holds and what failed."""
    await holds(inventory, pool)
    async with asyncio.timeout(30):
        counts = await asyncio.gather(*(expire_due(inventory, quarantine=Quarantine())
                                        for _ in range(3)))
    assert sum(counts) == 4
    assert list((await statuses(pool)).values()).count("ACTIVE") == 2
    await assert_consistent(pool)
