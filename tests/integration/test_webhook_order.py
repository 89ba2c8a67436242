"""Webhook queue order and schedule across disabling, re-enabling and retries (store/webhook_*.py,
feed/webhook_delivery.py): one attempt per (endpoint, SKU) in flight, a fresh schedule when an
endpoint comes back, no lock waits on the fan-out, and a claim that skips disabled endpoints."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from bootstrap.lifespan import open_services
from service import stocking, webhooks
from settings import Settings
from store import webhook_attempts as attempts
from store import webhook_deliveries, webhook_endpoints
from tests.integration.test_webhook_delivery import (
    add_endpoint,
    catalogue,
    delivered_by_sku,
    expected,
    settled,
    sink_started,
    statuses,
    until_sql,
    with_partners,
)
from tests.ledger_checks import assert_consistent
from tests.webhook_receiver import Receiver, new_secret

NOWHERE = "http://127.0.0.1:9/nowhere"  # the tests that claim by hand never POST


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as running:
        yield running


async def queue(pool: asyncpg.Pool, endpoint_id: int, sku: str, sequences: range) -> None:
    async with pool.acquire() as conn:
        await webhook_deliveries.queue(conn, [webhook_deliveries.Queued(
            endpoint_id, f"{sku}/{n}", "inventory.stock.set", sku, n, b"{}") for n in sequences])


async def round_attempts(pool: asyncpg.Pool, endpoint_id: int) -> list[tuple[int, int]]:
    """(attempts, round_attempts) of the endpoint's deliveries, oldest first."""
    async with pool.acquire() as conn:
        found = await conn.fetch("""SELECT attempts, round_attempts FROM webhook_deliveries
                                    WHERE endpoint_id = $1 ORDER BY id""", endpoint_id)
    return [(r["attempts"], r["round_attempts"]) for r in found]


# --- 1. re-enabling delivers what queued at once, with the schedule from its start ------------

@pytest.fixture
def long_wait_settings(settings: Settings) -> Settings:
    # the second failure disables the endpoint and puts the retry an hour away
    return with_partners(settings, webhook_retry_schedule=(0.3, 3600.0, 3600.0),
                         webhook_disable_after=0.2)


async def test_reenabling_delivers_what_queued_at_once_with_a_fresh_schedule(
    long_wait_settings: Settings, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    secret = new_secret()
    endpoint = await add_endpoint(pool, receiver.add("back", secret, answer="500"), secret)
    async with open_services(long_wait_settings, None) as services:
        await sink_started(pool)
        await catalogue(services.inventory, ["E-1"])
        await stocking.set_stock(services.inventory, sku="E-1", location="W", on_hand=5,
                                 safety_stock=None, expected_version=None, reference=None)
        await until_sql(pool, "SELECT NOT enabled FROM webhook_endpoints WHERE id = $1",
                        endpoint)
        await until_sql(pool, """SELECT bool_or(next_attempt_at > now() + interval '30 min')
                                 FROM webhook_deliveries WHERE endpoint_id = $1""", endpoint)
        assert await round_attempts(pool, endpoint) == [(2, 2), (0, 0)]
        receiver.answer("back", "200")
        outcome = await webhooks.update_endpoint(
            services.inventory, long_wait_settings.partners, endpoint, url=None,
            event_types=None, skus=None, enabled=True)
        assert outcome.error is None and outcome.endpoint is not None
        assert outcome.endpoint.enabled and outcome.endpoint.disabled_reason is None
        await settled(pool, [endpoint], 2, timeout=5)  # not an hour
    assert delivered_by_sku(receiver, "back") == await expected(pool)
    # the first attempt after re-enabling is the first of a new round of the schedule
    assert await round_attempts(pool, endpoint) == [(3, 1), (1, 1)]
    await assert_consistent(pool)


async def test_updating_an_enabled_endpoint_moves_no_retry(pool: asyncpg.Pool) -> None:
    endpoint = await add_endpoint(pool, NOWHERE, new_secret())
    await queue(pool, endpoint, "U-1", range(1, 2))
    async with pool.acquire() as conn:
        await conn.execute("""UPDATE webhook_deliveries SET next_attempt_at = now() + interval
                              '1 hour', round_attempts = 3 WHERE endpoint_id = $1""", endpoint)
        await webhook_endpoints.update(conn, endpoint, url=None, event_types=None, skus=["U-1"],
                                       enabled=True)  # already enabled: nothing is re-enabled
        assert await conn.fetchval("""SELECT next_attempt_at > now() + interval '30 min'
                                      AND round_attempts = 3 FROM webhook_deliveries
                                      WHERE endpoint_id = $1""", endpoint)


# --- 2. one attempt per (endpoint, SKU) in flight, even when a lower id is PENDING again -------

async def dead(conn: asyncpg.Connection, attempt: attempts.Attempt) -> None:
    assert await attempts.failed(conn, attempt, response_status=500, error="HTTP 500",
                                 retry_in=None, disable_after=3600, reason="-") is not None


async def test_a_retried_dead_delivery_waits_for_the_one_in_flight(pool: asyncpg.Pool) -> None:
    endpoint = await add_endpoint(pool, NOWHERE, new_secret())
    await queue(pool, endpoint, "O-1", range(1, 4))
    await queue(pool, endpoint, "O-2", range(1, 2))
    async with pool.acquire() as conn:
        first, other = await attempts.claim(conn, 10, 30, {}, 4)
        assert (first.event_id, other.event_id) == ("O-1/1", "O-2/1")
        await dead(conn, first)
        (second,) = await attempts.claim(conn, 10, 30, {}, 4)
        assert second.event_id == "O-1/2"  # in flight: its lease runs for 30 s
        assert await webhook_deliveries.retry_dead(conn, endpoint) == 1
        # O-1/1 is the queue's head again, but O-1/2 is in flight: neither a claim nor the
        # chaining after a delivery of the queue may start a second attempt of O-1
        assert await attempts.claim(conn, 10, 30, {}, 4) == []
        assert await attempts.claim_next(conn, first, 30) is None
        assert await attempts.delivered(conn, second, 200)  # the endpoint recovered
        (again,) = await attempts.claim(conn, 10, 30, {}, 4)
        assert (again.event_id, again.attempts, again.round_attempts) == ("O-1/1", 2, 1)
        assert await attempts.delivered(conn, again, 200) is False
        following = await attempts.claim_next(conn, again, 30)
        assert following is not None and following.event_id == "O-1/3"


async def test_a_replay_committed_late_waits_for_the_one_in_flight(pool: asyncpg.Pool) -> None:
    """A replay's rows get their ids when inserted, and are seen when committed: a live event
    queued and claimed meanwhile has a higher id than the replay's, now the queue's head."""
    endpoint = await add_endpoint(pool, NOWHERE, new_secret())
    async with pool.acquire() as replaying, pool.acquire() as conn:
        async with replaying.transaction():
            await webhook_deliveries.queue(replaying, [webhook_deliveries.Queued(
                endpoint, "L-1/1", "inventory.stock.set", "L-1", 1, b"{}")])
            await queue(pool, endpoint, "L-1", range(2, 3))
            (live,) = await attempts.claim(conn, 10, 30, {}, 4)
            assert live.event_id == "L-1/2"
        assert await attempts.claim(conn, 10, 30, {}, 4) == []  # L-1/1 waits for L-1/2
        assert await attempts.delivered(conn, live, 200) is False
        following = await attempts.claim_next(conn, live, 30)
        assert following is not None and following.event_id == "L-1/1"


# --- 3. a 410 disables the endpoint without using a slot of the delivery's schedule -----------

@pytest.fixture
def short_settings(settings: Settings) -> Settings:
    return with_partners(settings, webhook_retry_schedule=(0.05, 0.05))


async def test_a_410_uses_no_slot_of_the_schedule(
    short_settings: Settings, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    secret = new_secret()
    endpoint = await add_endpoint(pool, receiver.add("gone", secret, answer="410"), secret)
    async with open_services(short_settings, None) as services:
        await sink_started(pool)
        await catalogue(services.inventory, ["G-1"])
        await stocking.set_stock(services.inventory, sku="G-1", location="W", on_hand=5,
                                 safety_stock=None, expected_version=None, reference=None)
        await until_sql(pool, "SELECT NOT enabled FROM webhook_endpoints WHERE id = $1",
                        endpoint)
        assert await round_attempts(pool, endpoint) == [(1, 0), (0, 0)]
        receiver.answer("gone", "500")
        async with pool.acquire() as conn:  # re-enabled by hand, not through the API
            await conn.execute("UPDATE webhook_endpoints SET enabled = true WHERE id = $1",
                               endpoint)
        await settled(pool, [endpoint], 2)
    # after the 410, the first attempt and one per entry of the schedule, then DEAD
    assert await statuses(pool, endpoint) == {"DEAD": 2}
    assert await round_attempts(pool, endpoint) == [(4, 3), (3, 3)]
    assert [r.answer for r in receiver.at("gone") if r.event_id == "G-1/1"] == [
        "410", "500", "500", "500"]


# --- 4. settling and changing an endpoint do not wait on the fan-out's inserts ----------------

async def test_recording_a_failure_does_not_wait_on_the_fanouts_inserts(
    pool: asyncpg.Pool
) -> None:
    endpoint = await add_endpoint(pool, NOWHERE, new_secret())
    await queue(pool, endpoint, "K-1", range(1, 2))
    async with pool.acquire() as fanout, pool.acquire() as conn:
        (attempt,) = await attempts.claim(conn, 10, 30, {}, 4)
        await conn.execute("SET lock_timeout = '2s'")  # a lock wait fails the test
        async with fanout.transaction():  # its foreign key holds KEY SHARE on the endpoint
            await webhook_deliveries.queue(fanout, [webhook_deliveries.Queued(
                endpoint, "K-1/2", "inventory.stock.set", "K-1", 2, b"{}")])
            failure = await attempts.failed(conn, attempt, response_status=500, error="HTTP 500",
                                            retry_in=0.0, disable_after=0.0, reason="failing")
            assert failure == attempts.EndpointFailure(first=True, disabled=False)
            (again,) = await attempts.claim(conn, 10, 30, {}, 4)
            failure = await attempts.failed(conn, again, response_status=500, error="HTTP 500",
                                            retry_in=0.0, disable_after=0.0, reason="failing")
            assert failure == attempts.EndpointFailure(first=False, disabled=True)
            changed = await webhook_endpoints.update(conn, endpoint, url=None, event_types=None,
                                                     skus=None, enabled=True)
            assert changed is not None and changed.enabled
    assert await statuses(pool, endpoint) == {"PENDING": 2}


# --- 5. the claim walks only the queues of enabled endpoints ----------------------------------

def node_rows(plan: dict[str, object], node_type: str) -> list[int]:
    """Actual rows of every `node_type` node in an EXPLAIN ANALYZE plan (FORMAT JSON)."""
    # PostgreSQL 18 writes actual rows as a decimal ("2.0"), 15 as an integer
    found = [int(float(str(plan["Actual Rows"])))] if plan["Node Type"] == node_type else []
    children = plan.get("Plans", [])
    assert isinstance(children, list)
    return found + [n for child in children for n in node_rows(child, node_type)]


async def test_the_claim_walks_no_queue_of_a_disabled_endpoint(pool: asyncpg.Pool) -> None:
    disabled = await add_endpoint(pool, NOWHERE, new_secret())
    enabled = await add_endpoint(pool, NOWHERE, new_secret())
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, sku, sequence,
                   body)
               SELECT $1, 'B/' || n, 'inventory.stock.set', 'B-' || n % 2000, n, '{}'
               FROM generate_series(1, 6000) n""", disabled)
        await conn.execute("UPDATE webhook_endpoints SET enabled = false WHERE id = $1",
                           disabled)
    await queue(pool, enabled, "A-1", range(1, 3))
    await queue(pool, enabled, "A-2", range(1, 2))
    async with pool.acquire() as conn:
        explained = conn.transaction()  # EXPLAIN ANALYZE claims: rolled back
        await explained.start()
        plan = json.loads(await conn.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + attempts.CLAIM, 10, 30, [], [], 4))[0]
        await explained.rollback()
        assert node_rows(plan["Plan"], "Recursive Union") == [2]  # A-1's and A-2's heads
        claimed = await attempts.claim(conn, 10, 30, {}, 4)
        assert [a.event_id for a in claimed] == ["A-1/1", "A-2/1"]
        # an endpoint whose slots on this instance are all busy is not walked either
        await queue(pool, enabled, "A-3", range(1, 2))
        plan = json.loads(await conn.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + attempts.CLAIM, 10, 30, [enabled], [4], 4))[0]
        assert node_rows(plan["Plan"], "Recursive Union") == [0]
