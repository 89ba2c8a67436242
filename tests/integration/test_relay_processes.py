"""The relay in real server processes (uvicorn subprocesses, a real nats-server): a relay
SIGKILLed mid-burst resumes from its cursor in the next process; of two instances exactly one
leads, and killing it hands the lead to the other within seconds; each id is in the stream once."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import asyncpg

from service.inventory import Inventory
from tests.conftest import ADMIN, ADMIN_KEY, database_name
from tests.ledger_checks import assert_consistent
from tests.nats_server import NatsServer, stream_messages
from tests.processes import ServerProcess
from tests.relay_checks import SKUS, availability_causes, burst, catalogue, entries, until

log = logging.getLogger(__name__)
STREAM = "INVPROC"
ADJUST = """mutation($sku: String!) { adjustStock(input: {sku: $sku, location: "W", delta: 1,
            reason: RESTOCK}) { userErrors { code } } }"""



def relay_env(database_url: str, nats_url: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "ADMIN_API_KEY": ADMIN_KEY, "DB_POOL_MAX_SIZE": "4",
            "FEED_CHANNEL_PREFIX": database_name(database_url), "EVENT_STREAM_URL": nats_url,
            "EVENT_STREAM_NAME": STREAM, "PARTNER_SWEEP_INTERVAL": "200ms",
            "RELAY_LOCK_RETRY": "500ms"}


async def leader_gauge(session: aiohttp.ClientSession, server: ServerProcess) -> float | None:
    """inventory_relay_leader as the server's /metrics says it (None: it does not answer)."""
    try:
        async with session.get(f"{server.url}/metrics") as response:
            text = await response.text()
    except aiohttp.ClientError:
        return None
    for line in text.splitlines():
        if line.startswith("inventory_relay_leader "):
            return float(line.split()[1])
    return None


async def expected_count(pool: asyncpg.Pool) -> int:
    ledger = await entries(pool)
    return sum(len(rows) + len(availability_causes(rows)) for rows in ledger.values())


async def assert_stream_matches_ledger(pool: asyncpg.Pool, url: str) -> None:
    """Every entry and availability change once, per SKU in sequence order."""
    ledger = await entries(pool)
    want = {code: [r[0] for r in rows] for code, rows in ledger.items()}
    moved = {code: availability_causes(rows) for code, rows in ledger.items()}
    stock: dict[str, list[int]] = {}
    changes: dict[str, list[int]] = {}
    ids = []
    for subject, msg_id, event in await stream_messages(url, STREAM):
        assert msg_id == event["id"]
        ids.append(msg_id)
        into = stock if subject.startswith("inventory.stock.") else changes
        into.setdefault(str(event["subject"]), []).append(int(event["sequence"]))  # type: ignore[call-overload]
    assert len(ids) == len(set(ids))
    assert stock == want
    assert changes == {code: seqs for code, seqs in moved.items() if seqs}


async def stream_holds(url: str, count: int) -> bool:
    return len(await stream_messages(url, STREAM)) >= count


async def sink_started(pool: asyncpg.Pool) -> bool:
    async with pool.acquire() as conn:
        return bool(await conn.fetchval("SELECT count(*) FROM sink_starts WHERE sink = 'nats'"))


async def test_a_relay_killed_mid_burst_is_resumed_by_the_next_process(
    database_url: str, pool: asyncpg.Pool, inventory: Inventory, nats_server: NatsServer
) -> None:
    env = relay_env(database_url, nats_server.url)
    first, second = ServerProcess(env), ServerProcess(env)
    try:
        await first.start()
        await until(lambda: sink_started(pool))
        await catalogue(inventory)
        work = asyncio.create_task(burst(inventory, rounds=40, pause=0.02))
        await until(lambda: stream_holds(nats_server.url, 30), every=0.02)
        assert first.process is not None
        first.process.kill()  # SIGKILL: a round may be in flight, its cursor not moved
        first.process.wait(timeout=10)
        await second.start()
        await work
        want = await expected_count(pool)
        await until(lambda: stream_holds(nats_server.url, want))
        await asyncio.sleep(0.5)
        await assert_stream_matches_ledger(pool, nats_server.url)
        await assert_consistent(pool)
    finally:
        first.stop()
        second.stop()


async def graphql_burst(session: aiohttp.ClientSession, server: ServerProcess, rounds: int,
                        pause: float = 0.0) -> None:
    """Restocks on `server` (concurrently over the SKUs the API accepts), one at a time per SKU."""
    async def one(code: str) -> None:
        for _ in range(rounds):
            async with session.post(server.graphql_url, json={
                    "query": ADJUST, "variables": {"sku": code}}) as response:
                assert (await response.json())["data"]["adjustStock"]["userErrors"] == []
            await asyncio.sleep(pause)
    await asyncio.gather(*(one(code) for code in SKUS[:3]))


async def test_two_instances_one_leads_and_a_kill_hands_the_lead_over(
    database_url: str, pool: asyncpg.Pool, inventory: Inventory, nats_server: NatsServer
) -> None:
    # No periodic sweep within the test: a commit on the follower reaches the leader by NOTIFY.
    env = {**relay_env(database_url, nats_server.url), "PARTNER_SWEEP_INTERVAL": "60s"}
    servers = [ServerProcess(env), ServerProcess(env)]
    try:
        await asyncio.gather(*(s.start() for s in servers))
        await catalogue(inventory)
        async with aiohttp.ClientSession(headers=ADMIN) as session:
            async def one_leads() -> list[float | None] | None:
                gauges = [await leader_gauge(session, s) for s in servers]
                return gauges if sorted(gauges) == [0.0, 1.0] else None  # type: ignore[type-var]

            gauges = await until(one_leads, timeout=20)
            leader, follower = (servers[0], servers[1]) if gauges[0] == 1 else (
                servers[1], servers[0])
            await graphql_burst(session, follower, rounds=3)
            await until(lambda: stream_holds(nats_server.url, 9 + 3), timeout=5)  # + 3 changes

            work = asyncio.create_task(graphql_burst(session, follower, rounds=40, pause=0.01))
            await until(lambda: stream_holds(nats_server.url, 40), every=0.02)
            assert leader.process is not None
            leader.process.kill()
            killed = time.monotonic()

            async def follower_leads() -> bool:
                return await leader_gauge(session, follower) == 1.0
            await until(follower_leads, timeout=20, every=0.02)
            takeover = time.monotonic() - killed
            log.warning("relay takeover after SIGKILL: %.2fs", takeover)
            await work
            want = await expected_count(pool)
            await until(lambda: stream_holds(nats_server.url, want))
            await asyncio.sleep(0.5)
        await assert_stream_matches_ledger(pool, nats_server.url)
        await assert_consistent(pool)
        assert takeover < 5.0, f"the lead took {takeover:.1f}s to move"
    finally:
        for s in servers:
            s.stop()
