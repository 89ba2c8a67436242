"""Webhook delivery (feed/webhook_*.py) against a real receiver that verifies every request with
`standardwebhooks` (tests/webhook_receiver.py).

Exactly once per endpoint and in order per SKU after failures; the retry schedule and DEAD; 410
and long failure disabling; signing during a rotation; SSRF refusal at connect time; a hanging
endpoint holding up no other; retention; retryDeadDeliveries and replay."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import AsyncIterator, Callable, Sequence

import asyncpg
import pytest

from bootstrap.lifespan import open_services
from domain.model import LocationKind
from domain.webhooks import DeliveryStatus, WebhookEndpoint
from feed import cloudevents
from feed.webhook_delivery import DeliveryLoop
from feed.webhook_fanout import replay
from ops.metrics import registry
from service import cataloguing, reserving, stocking
from service.inventory import Inventory
from settings import Settings
from settings.partners import PartnerSettings
from store import webhook_deliveries
from tests.ledger_checks import assert_consistent
from tests.webhook_receiver import Receiver, new_secret

SKUS = ("W-1", "W-2", "W-3", "W/4 ü")
HELD = 3600  # holds outlive the slowest run: an expiry mid-test is a ledger entry the test did not expect
FAST = PartnerSettings(
    webhook_timeout=1.0, webhook_retry_schedule=(0.05, 0.05, 0.1, 0.1, 0.2, 0.2, 0.5, 0.5),
    webhook_allow_private_networks=True, webhook_poll_interval=0.1, tail_sweep_interval=0.1,
)


# --- helpers (also used by test_webhook_processes.py) ----------------------------------------

async def add_endpoint(pool: asyncpg.Pool, url: str, secret: str, *,
                       event_types: Sequence[str] = (), skus: Sequence[str] = ()) -> int:
    """An endpoint made in SQL (the API that makes them is tested with the schema)."""
    async with pool.acquire() as conn:
        found: int = await conn.fetchval(
            """INSERT INTO webhook_endpoints (url, event_types, skus, secret)
               VALUES ($1, $2, $3, $4) RETURNING id""", url, list(event_types), list(skus),
            secret)
    return found


async def sink_started(pool: asyncpg.Pool) -> None:
    async with asyncio.timeout(10), pool.acquire() as conn:
        while not await conn.fetchval("SELECT count(*) FROM sink_starts WHERE sink = 'webhooks'"):
            await asyncio.sleep(0.02)


async def catalogue(inventory: Inventory, skus: Sequence[str] = SKUS) -> None:
    await cataloguing.upsert_location(inventory, code="W", name="W", kind=LocationKind.WAREHOUSE)
    for code in skus:
        await cataloguing.upsert_sku(inventory, code=code, name=code, low_stock_threshold=2)


async def churn(inventory: Inventory, code: str, rounds: int) -> None:
    await stocking.set_stock(inventory, sku=code, location="W", on_hand=4, safety_stock=None,
                             expected_version=None, reference=None)
    for n in range(rounds):
        outcome = await reserving.reserve(inventory, sku=code, location="W", quantity=1,
                                          ttl=HELD, reference=f"r{n}")
        if outcome.error is None and n % 2:
            await reserving.release(inventory, reservation_id=outcome.reservations[0].id)


async def expected(pool: asyncpg.Pool, wants: Callable[[str, str], bool] = lambda t, s: True
                   ) -> dict[str, list[str]]:
    """Per SKU, the event ids an endpoint wanting `wants(type, sku)` gets, in order, worked
    out from the ledger alone: each entry, then its availability change if it made one."""
    async with pool.acquire() as conn:
        found = await conn.fetch(
            """SELECT s.code, e.sequence, e.kind, e.available, e.status FROM stock_events e
               JOIN skus s ON s.id = e.sku_id ORDER BY s.code, e.sequence""")
    out: dict[str, list[str]] = {}
    before: dict[str, tuple[int, str]] = {}
    for r in found:
        code, seq = r["code"], r["sequence"]
        ids = out.setdefault(code, [])
        if wants(cloudevents.STOCK_TYPE + r["kind"].lower(), code):
            ids.append(f"{code}/{seq}")
        now = (r["available"], r["status"])
        if now != before.get(code, (0, "OUT_OF_STOCK")) and wants(
                cloudevents.AVAILABILITY_TYPE, code):
            ids.append(f"{code}/availability/{code}/{seq}")
        before[code] = now
    return {k: v for k, v in out.items() if v}


def delivered_by_sku(receiver: Receiver, path: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in receiver.delivered(path):
        out.setdefault(r.sku, []).append(r.event_id)
    return out


async def statuses(pool: asyncpg.Pool, endpoint_id: int) -> dict[str, int]:
    async with pool.acquire() as conn:
        found = await conn.fetch("""SELECT status, count(*) AS n FROM webhook_deliveries
                                    WHERE endpoint_id = $1 GROUP BY status""", endpoint_id)
    return {r["status"]: r["n"] for r in found}


async def settled(pool: asyncpg.Pool, endpoint_ids: Sequence[int], at_least: int = 1,
                  timeout: float = 30) -> None:
    """Until the endpoints have `at_least` deliveries each, none of them PENDING."""
    async with asyncio.timeout(timeout), pool.acquire() as conn:
        while await conn.fetchval(
                """SELECT count(*) FILTER (WHERE status = 'PENDING') > 0
                          OR min(n) < $2 OR count(DISTINCT endpoint_id) < cardinality($1)
                   FROM (SELECT endpoint_id, status, count(*) OVER (PARTITION BY endpoint_id) n
                         FROM webhook_deliveries WHERE endpoint_id = ANY($1)) d""",
                list(endpoint_ids), at_least):
            await asyncio.sleep(0.05)


async def until_sql(pool: asyncpg.Pool, query: str, *args: object, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout), pool.acquire() as conn:
        while not await conn.fetchval(query, *args):
            await asyncio.sleep(0.02)


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as running:
        yield running


def with_partners(settings: Settings, **changes: object) -> Settings:
    return dataclasses.replace(settings, partners=dataclasses.replace(FAST, **changes))


@pytest.fixture
def partner_settings(settings: Settings) -> Settings:
    return with_partners(settings)


@pytest.fixture
async def running(partner_settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Inventory]:
    """The server's services (outbox, webhook fan-out, delivery loop) without HTTP in front;
    changes made through the returned Inventory wake the fan-out as a mutation does."""
    async with open_services(partner_settings, None) as services:
        await sink_started(pool)
        yield services.inventory


# --- tests ------------------------------------------------------------------------------------

async def test_a_burst_is_delivered_once_per_endpoint_in_order_after_failures(
    running: Inventory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    chance = random.Random(12)

    def flaky(_event_id: str, attempt: int) -> str:  # fails at least once, then a coin
        return chance.choice(("500", "drop")) if attempt == 1 else chance.choice(
            ("200", "200", "500"))

    secret = new_secret()
    before = {outcome: sent(outcome) for outcome in ("delivered", "failed")}
    steady = await add_endpoint(pool, receiver.add("steady", secret), secret)
    shaky = await add_endpoint(pool, receiver.add("shaky", secret, answer=flaky), secret)
    types = [cloudevents.STOCK_TYPE + "reserved", cloudevents.AVAILABILITY_TYPE]
    picky = await add_endpoint(pool, receiver.add("picky", secret), secret,
                               event_types=types, skus=["W-1", "W/4 ü"])
    await catalogue(running)
    await asyncio.gather(*(churn(running, code, 12) for code in SKUS))

    everything = await expected(pool)
    wanted = await expected(pool, lambda t, s: t in types and s in ("W-1", "W/4 ü"))
    total = sum(map(len, everything.values()))
    await receiver.until(lambda: len(receiver.delivered("shaky")) >= total, timeout=60)
    await settled(pool, [steady, shaky, picky])

    assert delivered_by_sku(receiver, "steady") == everything
    assert delivered_by_sku(receiver, "shaky") == everything
    assert delivered_by_sku(receiver, "picky") == wanted
    assert all(r.verified for r in receiver.received)
    assert len(receiver.at("shaky")) > total  # it really failed and was retried
    for endpoint_id in (steady, shaky, picky):
        assert set(await statuses(pool, endpoint_id)) == {"DELIVERED"}
    assert sent("delivered") - before["delivered"] == 2 * total + sum(map(len, wanted.values()))
    assert sent("failed") - before["failed"] == len(receiver.at("shaky")) - total
    await assert_consistent(pool)


def sent(outcome: str) -> float:
    return registry().get_sample_value(
        "inventory_partner_events_total", {"sink": "webhooks", "outcome": outcome}) or 0.0


async def test_a_redirect_is_a_failure_not_followed(
    running: Inventory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    secret = new_secret()
    endpoint = await add_endpoint(pool, receiver.add("moving", secret, answer="307"), secret)
    receiver.add("moved", secret)
    await catalogue(running, ["M-1"])
    await stocking.set_stock(running, sku="M-1", location="W", on_hand=5, safety_stock=None,
                             expected_version=None, reference=None)
    await until_sql(pool, """SELECT count(*) > 0 FROM webhook_deliveries WHERE endpoint_id = $1
                             AND attempts >= 2 AND response_status = 307
                             AND error = 'HTTP 307 (redirects are not followed): answered'""",
                    endpoint)
    receiver.answer("moving", "200")
    await settled(pool, [endpoint], 2)
    assert receiver.at("moved") == []
    async with pool.acquire() as conn:
        first = await conn.fetchrow("""SELECT attempts, response_status FROM webhook_deliveries
                                       WHERE endpoint_id = $1 ORDER BY id LIMIT 1""", endpoint)
    assert first["attempts"] >= 2 and first["response_status"] == 200


@pytest.fixture
def schedule_settings(settings: Settings) -> Settings:
    return with_partners(settings, webhook_retry_schedule=(0.2, 0.4, 0.6))


async def test_the_retry_schedule_then_dead_and_the_next_event_waits(
    schedule_settings: Settings, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    secret = new_secret()
    endpoint = await add_endpoint(pool, receiver.add("down", secret, answer="500"), secret)
    async with open_services(schedule_settings, None) as services:
        await sink_started(pool)
        await catalogue(services.inventory, ["R-1"])
        await stocking.set_stock(services.inventory, sku="R-1", location="W", on_hand=5,
                                 safety_stock=None, expected_version=None, reference=None)
        await settled(pool, [endpoint], 2)
    first, second = "R-1/1", "R-1/availability/R-1/1"
    times = [r.at for r in receiver.at("down") if r.event_id == first]
    assert len(times) == 4  # the first attempt and one per entry of the schedule
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    for gap, wait in zip(gaps, (0.2, 0.4, 0.6), strict=True):
        assert wait <= gap < wait + 0.3, (gap, wait)
    later = [r.at for r in receiver.at("down") if r.event_id == second]
    assert len(later) == 4 and min(later) >= max(times)  # in order: it waited for DEAD
    async with pool.acquire() as conn:
        rows = await webhook_deliveries.deliveries(conn, endpoint, None, 10)
    assert [(d.event_id, d.status, d.attempts, d.response_status) for d in rows] == [
        (second, DeliveryStatus.DEAD, 4, 500), (first, DeliveryStatus.DEAD, 4, 500)]
    assert rows[0].error is not None and rows[0].error.startswith("HTTP 500")
    await assert_consistent(pool)


async def test_410_disables_at_once_and_reenabling_delivers_what_queued(
    running: Inventory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    secret = new_secret()
    endpoint = await add_endpoint(pool, receiver.add("gone", secret, answer="410"), secret)
    await catalogue(running, ["G-1"])
    await stocking.set_stock(running, sku="G-1", location="W", on_hand=5, safety_stock=None,
                             expected_version=None, reference=None)
    await until_sql(pool, "SELECT NOT enabled FROM webhook_endpoints WHERE id = $1", endpoint)
    async with pool.acquire() as conn:
        reason = await conn.fetchval(
            "SELECT disabled_reason FROM webhook_endpoints WHERE id = $1", endpoint)
    assert reason == "HTTP 410 Gone from the endpoint"
    assert len(receiver.at("gone")) == 1
    await stocking.set_stock(running, sku="G-1", location="W", on_hand=1, safety_stock=None,
                             expected_version=None, reference=None)  # queues while disabled
    await until_sql(pool, """SELECT count(*) = 4 FROM webhook_deliveries
                             WHERE endpoint_id = $1 AND status = 'PENDING'""", endpoint)
    assert len(receiver.at("gone")) == 1
    receiver.answer("gone", "200")
    async with pool.acquire() as conn:
        await conn.execute("""UPDATE webhook_endpoints SET enabled = true, disabled_reason = NULL
                              WHERE id = $1""", endpoint)
    await settled(pool, [endpoint], 4)
    assert delivered_by_sku(receiver, "gone") == await expected(pool)
    await assert_consistent(pool)


@pytest.fixture
def disabling_settings(settings: Settings) -> Settings:
    return with_partners(settings, webhook_retry_schedule=(0.1,) * 100,
                         webhook_disable_after=0.5)


async def test_an_endpoint_failing_for_disable_after_is_disabled_not_deleted(
    disabling_settings: Settings, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    secret = new_secret()
    endpoint = await add_endpoint(pool, receiver.add("failing", secret, answer="500"), secret)
    async with open_services(disabling_settings, None) as services:
        await sink_started(pool)
        await catalogue(services.inventory, ["D-1"])
        await stocking.set_stock(services.inventory, sku="D-1", location="W", on_hand=5,
                                 safety_stock=None, expected_version=None, reference=None)
        await until_sql(pool, "SELECT NOT enabled FROM webhook_endpoints WHERE id = $1",
                        endpoint)
        async with pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM webhook_endpoints WHERE id = $1", endpoint)
        assert row["disabled_reason"].startswith("every attempt failed for 0.5s (the last: "
                                                 "HTTP 500")
        assert row["failing_since"] is not None
        assert await statuses(pool, endpoint) == {"PENDING": 2}  # disabled, not DEAD
        receiver.answer("failing", "200")
        async with pool.acquire() as conn:
            await conn.execute("UPDATE webhook_endpoints SET enabled = true WHERE id = $1",
                               endpoint)
        await settled(pool, [endpoint], 2)
        async with pool.acquire() as conn:
            assert await conn.fetchval(
                "SELECT failing_since FROM webhook_endpoints WHERE id = $1", endpoint) is None
    assert len(receiver.delivered("failing")) == 2


async def test_during_a_rotation_both_secrets_sign_after_it_only_the_new(
    running: Inventory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    old, new = new_secret(), new_secret()
    rotating = await add_endpoint(pool, receiver.add("rotating", new, old), new)
    rotated = await add_endpoint(pool, receiver.add("rotated", new), new)
    async with pool.acquire() as conn:
        await conn.execute("""UPDATE webhook_endpoints SET previous_secret = $2,
                              previous_until = now() + CASE WHEN id = $1 THEN interval '1 hour'
                                                            ELSE interval '-1 second' END""",
                           rotating, old)
    await catalogue(running, ["S-1"])
    await stocking.set_stock(running, sku="S-1", location="W", on_hand=5, safety_stock=None,
                             expected_version=None, reference=None)
    await settled(pool, [rotating, rotated], 2)
    assert [(r.signatures, r.verified) for r in receiver.at("rotating")] == [(2, True)] * 2
    assert [(r.signatures, r.verified) for r in receiver.at("rotated")] == [(1, True)] * 2
    receiver.secrets["rotated"] = [old]  # the old secret no longer verifies
    await stocking.set_stock(running, sku="S-1", location="W", on_hand=4, safety_stock=None,
                             expected_version=None, reference=None)
    await receiver.until(lambda: len(receiver.at("rotated")) >= 3)
    assert not receiver.at("rotated")[2].verified
    await assert_consistent(pool)


@pytest.fixture
def guarded_settings(settings: Settings) -> Settings:
    return with_partners(settings, webhook_allow_private_networks=False,
                         webhook_retry_schedule=(0.05, 0.05))


async def test_private_addresses_are_refused_at_connect_time(
    guarded_settings: Settings, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    secret = new_secret()
    receiver.add("ssrf", secret)
    by_name = await add_endpoint(pool, receiver.url("ssrf", "localhost"), secret)
    literal = await add_endpoint(pool, receiver.url("ssrf", "127.0.0.1"), secret)
    async with open_services(guarded_settings, None) as services:
        await sink_started(pool)
        await catalogue(services.inventory, ["P-1"])
        await stocking.set_stock(services.inventory, sku="P-1", location="W", on_hand=5,
                                 safety_stock=None, expected_version=None, reference=None)
        await settled(pool, [by_name, literal], 2)
    assert receiver.received == []
    async with pool.acquire() as conn:
        named = await webhook_deliveries.deliveries(conn, by_name, DeliveryStatus.DEAD, 5)
        literals = await webhook_deliveries.deliveries(conn, literal, DeliveryStatus.DEAD, 5)
    assert len(named) == len(literals) == 2
    assert all(d.attempts == 3 and d.response_status is None for d in named + literals)
    assert named[0].error is not None and "resolves only to private addresses" in named[0].error
    assert literals[0].error == "refused: 127.0.0.1 is a private address"


@pytest.fixture
def hanging_settings(settings: Settings) -> Settings:
    return with_partners(settings, webhook_timeout=3.0, webhook_retry_schedule=(0.05,) * 3)


async def test_a_hanging_endpoint_holds_up_no_other(
    hanging_settings: Settings, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    secret = new_secret()
    hanging = await add_endpoint(pool, receiver.add("hang", secret, answer="hang"), secret)
    quick = await add_endpoint(pool, receiver.add("quick", secret), secret)
    async with open_services(hanging_settings, None) as services:
        await sink_started(pool)
        await catalogue(services.inventory)
        await asyncio.gather(*(churn(services.inventory, code, 4) for code in SKUS))
        everything = await expected(pool)
        total = sum(map(len, everything.values()))
        await receiver.until(lambda: len(receiver.delivered("quick")) >= total, timeout=2.5)
        assert receiver.delivered("hang") == []
        # one attempt per SKU's queue, at most the endpoint's slots, none settled yet
        assert 0 < len(receiver.at("hang")) <= FAST.webhook_endpoint_concurrency
        receiver.answer("hang", "drop")
        await settled(pool, [quick])
        await until_sql(pool, """SELECT count(*) > 0 FROM webhook_deliveries
                                 WHERE endpoint_id = $1 AND error = 'timed out after 3s'""",
                        hanging)
    assert delivered_by_sku(receiver, "quick") == everything
    await assert_consistent(pool)


async def test_a_dropped_connection_is_retried(
    running: Inventory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    secret = new_secret()
    endpoint = await add_endpoint(
        pool, receiver.add("drop", secret, answer=lambda _i, n: "drop" if n == 1 else "200"),
        secret)
    await catalogue(running, ["C-1"])
    await stocking.set_stock(running, sku="C-1", location="W", on_hand=5, safety_stock=None,
                             expected_version=None, reference=None)
    await settled(pool, [endpoint], 2)
    async with pool.acquire() as conn:
        rows = await webhook_deliveries.deliveries(conn, endpoint, DeliveryStatus.DELIVERED, 5)
    assert [(d.attempts, d.response_status, d.error) for d in rows] == [(2, 200, None)] * 2
    assert sorted(r.answer for r in receiver.at("drop")) == ["200", "200", "drop", "drop"]


async def test_retry_dead_and_replay_queue_again_in_order(
    running: Inventory, pool: asyncpg.Pool, receiver: Receiver, partner_settings: Settings
) -> None:
    secret = new_secret()
    endpoint = await add_endpoint(pool, receiver.add("later", secret, answer="500"), secret)
    await catalogue(running, ["Y-1"])
    for on_hand in (5, 0, 3):
        await stocking.set_stock(running, sku="Y-1", location="W", on_hand=on_hand,
                                 safety_stock=None, expected_version=None, reference=None)
    await settled(pool, [endpoint], 6)
    ids = (await expected(pool))["Y-1"]
    async with pool.acquire() as conn:
        dead = await webhook_deliveries.deliveries(conn, endpoint, DeliveryStatus.DEAD, 100)
        assert [d.event_id for d in dead] == ids[::-1]  # newest first
        assert await webhook_deliveries.deliveries(conn, endpoint, DeliveryStatus.DEAD, 2) == dead[:2]
        receiver.answer("later", "200")
        assert await webhook_deliveries.retry_dead(conn, endpoint) == len(ids)
    await settled(pool, [endpoint])
    assert [r.event_id for r in receiver.delivered("later")] == ids

    async with pool.acquire() as conn, conn.transaction():
        found = await conn.fetchrow("SELECT * FROM webhook_endpoints WHERE id = $1", endpoint)
        shown = WebhookEndpoint(id=endpoint, url=found["url"], event_types=[],
                                skus=[], enabled=True, disabled_reason=None,
                                created_at=found["created_at"])
        queued = await replay(conn, shown, "Y-1", 1, limit=10,
                              source=partner_settings.partners.event_source)
    running_ids = [i for i in ids if not i.endswith("/1")]  # after sequence 1
    assert queued == len(running_ids)
    await receiver.until(lambda: len(receiver.delivered("later")) == len(ids) + queued)
    assert [r.event_id for r in receiver.delivered("later")][len(ids):] == running_ids
    await assert_consistent(pool)


async def test_retention_deletes_old_delivered_and_dead_deliveries(
    pool: asyncpg.Pool, partner_settings: Settings
) -> None:
    endpoint = await add_endpoint(pool, "http://127.0.0.1:9/x", new_secret())
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, sku, sequence,
                   body, status, created_at)
               SELECT $1, 'S/' || n, 'inventory.stock.set', 'S', n, '{}',
                      (ARRAY['DELIVERED', 'DEAD', 'PENDING'])[n % 3 + 1],
                      now() - CASE WHEN n <= 2400 THEN interval '31 days'
                                   ELSE interval '29 days' END
               FROM generate_series(1, 3000) n""", endpoint)
    loop = DeliveryLoop(pool, partner_settings.partners)
    assert await loop.prune() == 1600  # two thirds of the 2400 old ones, in batches
    assert await statuses(pool, endpoint) == {"PENDING": 1000, "DELIVERED": 200, "DEAD": 200}
