"""The relay to NATS JetStream with a real nats-server: after a burst of concurrent changes over
several SKUs, and across a NATS kill during the burst, the stream holds every ledger entry and
availability change once, per SKU in order, Nats-Msg-Id = the CloudEvent id; /readyz stays up."""

from __future__ import annotations

import asyncio
import dataclasses

import aiohttp
import asyncpg
import nats
from nats.js.api import StreamConfig
from prometheus_client import REGISTRY

from bootstrap.lifespan import open_services
from feed.relay import Relay, RelaySink
from settings import Settings
from settings.partners import PartnerSettings
from store import leases
from tests.conftest import RunningServer
from tests.ledger_checks import assert_consistent
from tests.nats_server import NatsServer, stream_messages
from tests.relay_checks import availability_causes, burst, catalogue, entries, until
from web.state import Services

STREAM = "INVTEST"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0



def relay_settings(settings: Settings, url: str, **more: object) -> Settings:
    partners = PartnerSettings(
        event_stream_url=url, event_stream_name=STREAM, event_stream_subject_prefix="inv",
        tail_sweep_interval=0.2, relay_lock_retry=0.2, **more)  # type: ignore[arg-type]
    return dataclasses.replace(settings, partners=partners)


async def started(services: Services, sink: str) -> None:
    async def check() -> bool:
        async with services.inventory.pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT count(*) FROM sink_starts WHERE sink = $1",
                                            sink))
    await until(check)


def expected(ledger: dict[str, list[tuple[int, int, str]]]) -> tuple[dict[str, list[int]],
                                                                    dict[str, list[int]]]:
    stock = {code: [r[0] for r in rows] for code, rows in ledger.items()}
    moved = {code: availability_causes(rows) for code, rows in ledger.items()}
    return stock, {code: seqs for code, seqs in moved.items() if seqs}


async def held(url: str) -> tuple[dict[str, list[int]], dict[str, list[int]], list[str]]:
    """What the stream holds per SKU: stock sequences, availability causes, and every id."""
    stock: dict[str, list[int]] = {}
    moved: dict[str, list[int]] = {}
    ids = []
    for subject, msg_id, event in await stream_messages(url, STREAM):
        assert msg_id == event["id"], (subject, msg_id, event["id"])
        ids.append(msg_id)
        sku = str(event["subject"])
        kind, token = subject.split(".", 2)[1:]
        if kind == "stock":
            assert event["type"] == "inventory.stock." + str(event["data"]["kind"]).lower()  # type: ignore[index]
            stock.setdefault(sku, []).append(int(event["sequence"]))  # type: ignore[call-overload]
        else:
            assert kind == "availability" and event["type"] == "inventory.availability.changed"
            moved.setdefault(sku, []).append(int(event["sequence"]))  # type: ignore[call-overload]
    return stock, moved, ids


async def all_published(url: str, want: int) -> bool:
    return len(await stream_messages(url, STREAM)) >= want


async def test_a_burst_is_in_the_stream_once_per_id_in_order(
    settings: Settings, nats_server: NatsServer
) -> None:
    before = sample("inventory_partner_events_total", sink="nats", outcome="delivered")
    async with open_services(relay_settings(settings, nats_server.url), None) as services:
        await started(services, "nats")
        await catalogue(services.inventory)
        await burst(services.inventory, rounds=15)
        stock, moved = expected(await entries(services.inventory.pool))
        want = sum(map(len, stock.values())) + sum(map(len, moved.values()))
        await until(lambda: all_published(nats_server.url, want))
        await asyncio.sleep(0.5)  # a duplicate would arrive meanwhile (and the sweep runs)
        got_stock, got_moved, ids = await held(nats_server.url)
        await assert_consistent(services.inventory.pool)
    assert got_stock == stock and got_moved == moved
    assert len(ids) == len(set(ids)) == want
    assert sample("inventory_partner_events_total", sink="nats", outcome="delivered") == (
        before + want)
    assert sample("inventory_sink_lag_events", sink="nats") == 0
    assert "R%2F4%20%C3%BC" in {s.split(".")[2] for s, _, _ in
                                await stream_messages(nats_server.url, STREAM)}


async def test_a_nats_kill_during_the_burst_loses_and_repeats_nothing(
    settings: Settings, nats_server: NatsServer
) -> None:
    async with open_services(relay_settings(settings, nats_server.url), None) as services:
        await started(services, "nats")
        await catalogue(services.inventory)
        work = asyncio.create_task(burst(services.inventory, rounds=40, pause=0.01))
        await until(lambda: all_published(nats_server.url, 20))
        nats_server.kill()
        await asyncio.sleep(1.0)  # mutations go on while NATS is down
        nats_server.start()
        await work
        stock, moved = expected(await entries(services.inventory.pool))
        want = sum(map(len, stock.values())) + sum(map(len, moved.values()))
        await until(lambda: all_published(nats_server.url, want))
        await asyncio.sleep(0.5)
        got_stock, got_moved, ids = await held(nats_server.url)
        await assert_consistent(services.inventory.pool)
    assert got_stock == stock and got_moved == moved
    assert len(ids) == len(set(ids)) == want


async def test_mutations_and_readiness_do_not_wait_for_a_dead_nats(
    settings: Settings, nats_server: NatsServer
) -> None:
    nats_server.kill()
    relaying = relay_settings(settings, nats_server.url)
    async with RunningServer(relaying) as server, open_services(relaying, None) as services:
        await catalogue(services.inventory)
        async with asyncio.timeout(10):  # about a second when nothing waits for NATS
            await burst(services.inventory, rounds=5)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{server.url}/readyz") as response:
                assert response.status == 200
        nats_server.start()
        stock, moved = expected(await entries(services.inventory.pool))
        want = sum(map(len, stock.values())) + sum(map(len, moved.values()))
        await until(lambda: all_published(nats_server.url, want))
        await assert_consistent(services.inventory.pool)


async def test_the_stream_is_brought_to_the_settings(
    settings: Settings, nats_server: NatsServer
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=STREAM, subjects=["inv.>"], max_age=60,
                                         duplicate_window=5))
        async with open_services(relay_settings(
                settings, nats_server.url, event_stream_max_age=3600.0,
                event_stream_duplicate_window=120.0), None) as services:
            await started(services, "nats")
            await catalogue(services.inventory, ("S-1",))
            await burst(services.inventory, rounds=1, skus=("S-1",))
            await until(lambda: all_published(nats_server.url, 3))
        config = (await js.stream_info(STREAM)).config
    finally:
        await nc.close()
    assert (config.max_age, config.duplicate_window) == (3600.0, 120.0)


async def test_a_leader_whose_lock_connection_dies_stops_and_another_takes_over(
    settings: Settings, nats_server: NatsServer, pool: asyncpg.Pool
) -> None:
    """pg_terminate_backend on the leader's lock connection: it stops publishing at once (its
    gauge drops) and the other relay leads within a lock retry; nothing is lost or repeated."""
    relaying = relay_settings(settings, nats_server.url)
    async with open_services(relaying, None) as one, open_services(relaying, None) as two:
        relays = [one_relay(one), one_relay(two)]
        await until(lambda: _some(any(r.leading for r in relays)))
        leader = next(r for r in relays if r.leading)
        other = next(r for r in relays if r is not leader)
        await catalogue(one.inventory)
        work = asyncio.create_task(burst(two.inventory, rounds=30, pause=0.01))
        await until(lambda: all_published(nats_server.url, 20), every=0.02)
        async with pool.acquire() as conn:
            killed = await conn.fetchval(
                # this database's relay lock only: other tests' servers on the same
                # PostgreSQL hold theirs (and other advisory locks) meanwhile
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'inventory-relay' AND datname = current_database() "
                "AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND ((classid::bigint << 32) | objid::bigint) = $1)", leases.RELAY_LOCK)
        assert killed == 1
        await until(lambda: _some(not leader.leading), timeout=3, every=0.01)
        await until(lambda: _some(other.leading), timeout=5, every=0.01)
        await work
        stock, moved = expected(await entries(pool))
        want = sum(map(len, stock.values())) + sum(map(len, moved.values()))
        await until(lambda: all_published(nats_server.url, want))
        await asyncio.sleep(0.5)
        got_stock, got_moved, ids = await held(nats_server.url)
    assert got_stock == stock and got_moved == moved
    assert len(ids) == len(set(ids)) == want
    await assert_consistent(pool)


def one_relay(services: Services) -> Relay:
    sinks = [s for s in services.feed.outbox.sinks if isinstance(s, RelaySink)]
    assert len(sinks) == 1
    return sinks[0].relay


async def _some(value: bool) -> bool:
    return value
