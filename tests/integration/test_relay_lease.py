"""The relay's lead (store/leases.py, feed/relay.py) against real PostgreSQL: the lock's
connection makes PostgreSQL drop a vanished holder within seconds (TCP keepalives), and so does
a round's transaction (idle limit); an instance that loses the lead drops its sinks' lag."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest
from prometheus_client import REGISTRY

from feed.jetstream import JetStreamHandler, StreamSettings
from feed.mqtt import BrokerSettings, MqttHandler
from feed.relay import Relay
from settings import Settings
from store import leases
from tests.conftest import free_port
from tests.relay_checks import until

NAMES = ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count",
         "tcp_user_timeout")


async def test_the_lock_connection_lets_postgresql_drop_a_vanished_holder_in_25_s(
    settings: Settings,
) -> None:
    """A frozen or cut-off holder keeps its lock as long as PostgreSQL believes in its TCP
    connection: the OS default is ~2 h 11 min; with these, 10 s idle + 3 probes 5 s apart."""
    assert settings.database_url
    conn = await leases.connect(settings.database_url)
    try:
        if await conn.fetchval("SELECT inet_client_addr()") is None:
            pytest.skip("the database is reached by a unix socket (the embedded PostgreSQL): "
                        "TCP keepalives do not apply")
        shown = {name: await conn.fetchval(f"SHOW {name}") for name in NAMES}
    finally:
        await conn.close()
    assert shown == {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5",
                     "tcp_keepalives_count": "3", "tcp_user_timeout": "25000"}
    idle, interval, count = (int(shown[f"tcp_keepalives_{k}"]) for k in ("idle", "interval",
                                                                          "count"))
    assert idle + interval * count <= 30


async def test_a_relay_round_left_open_by_a_vanished_holder_ends_after_its_limit(
    pool: asyncpg.Pool,
) -> None:
    """A frozen leader's round keeps its cursors' rows locked (the next leader's rounds skip
    them: SKIP LOCKED) until PostgreSQL ends the session; a handler's round limits its idle
    time in the transaction (30 s; 1 s here), and the setting ends with the transaction."""
    handler = JetStreamHandler(StreamSettings(url=f"nats://127.0.0.1:{free_port()}"))
    async with pool.acquire() as conn:
        async with conn.transaction():
            assert await handler.handle(conn, []) == {}
            assert await conn.fetchval("SHOW idle_in_transaction_session_timeout") == "30s"
        assert await conn.fetchval("SHOW idle_in_transaction_session_timeout") == "0"
    await handler.close()
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await leases.bound_round(conn, 1.0)
        await asyncio.sleep(1.5)  # the holder "freezes"
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError)):
            await conn.fetchval("SELECT 1")
        with contextlib.suppress(Exception):
            await transaction.rollback()


def lag(sink: str) -> tuple[float | None, float | None]:
    return (REGISTRY.get_sample_value("inventory_sink_lag_events", {"sink": sink}),
            REGISTRY.get_sample_value("inventory_sink_lag_seconds", {"sink": sink}))


async def test_an_instance_that_loses_the_lead_stops_exporting_the_sinks_lag(
    settings: Settings, pool: asyncpg.Pool,
) -> None:
    """While leading, the tails' sweeps export each broker sink's lag; once the lock is lost
    (its connection killed, another session takes it) the figures are gone from /metrics'
    registry rather than frozen at their last value."""
    assert settings.database_url
    dsn = settings.database_url
    handlers = [JetStreamHandler(StreamSettings(url=f"nats://127.0.0.1:{free_port()}")),
                MqttHandler(BrokerSettings(url=f"mqtt://127.0.0.1:{free_port()}"))]
    relay = Relay(pool, lambda: leases.connect(dsn), handlers, lock_retry=0.2,
                  sweep_interval=0.1, check_interval=0.1)
    task = asyncio.create_task(relay.run())
    rival = await leases.connect(dsn)
    try:
        await until(lambda: _now(all(None not in lag(s) for s in ("nats", "mqtt"))))
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                                "application_name = 'inventory-relay' AND datname = "
                                "current_database() AND pid IN (SELECT pid FROM pg_locks "
                                "WHERE locktype = 'advisory' AND granted)")
        await until(lambda: leases.try_lock(rival), every=0.01)
        await until(lambda: _now(not relay.leading), timeout=5)
        await asyncio.sleep(0.3)  # a sweep would have run meanwhile
        assert lag("nats") == lag("mqtt") == (None, None)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await rival.close()


async def _now(value: bool) -> bool:
    return value
