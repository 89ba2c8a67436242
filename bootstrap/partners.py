"""The partner feeds, each opened and closed here: webhooks (their fan-out from the ledger and
their delivery) and the NATS/MQTT relay; bootstrap/lifespan.py hands their sinks to the feed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg

from bootstrap.resources import database_url, open_pool
from feed.jetstream import JetStreamHandler, StreamSettings
from feed.mqtt import BrokerSettings, MqttHandler
from feed.outbox import Sink
from feed.relay import Relay, RelayHandler, shown
from feed.tail import LedgerTail, TailSink
from feed.webhook_delivery import DeliveryLoop, spoken
from feed.webhook_fanout import WebhookFanout
from settings import Settings
from store import leases
from store.errors import log_failure

log = logging.getLogger("inventory")


@contextlib.asynccontextmanager
async def open_partners(settings: Settings) -> AsyncIterator[list[Sink]]:
    """Runs the partner feeds' tasks until the block exits, on a pool of their own (a partner
    that hangs holds its connections, never the mutations'); yields the outbox sinks that wake
    them after each commit."""
    async with open_pool(settings, min_size=1, max_size=settings.partners.pool_size,
                         migrate=False) as pool:
        async with _partners(settings, pool) as sinks:
            yield sinks


@contextlib.asynccontextmanager
async def _partners(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[list[Sink]]:
    sinks: list[Sink] = []
    tasks: list[asyncio.Task[None]] = []
    # webhooks: the fan-out tail (a TailSink) and the delivery loop (issue 12)
    partners = settings.partners
    delivery = DeliveryLoop(pool, partners)
    fanout = WebhookFanout(partners.event_source, wake=delivery.wake)
    tail = LedgerTail(pool, fanout, sweep_interval=partners.tail_sweep_interval,
                      committed=fanout.committed, idle=fanout.idle)
    try:
        await tail.begin()  # its one log line belongs to startup; else run() retries it
    except Exception as exc:
        log_failure(log, exc, "sink %s: start", fanout.name)
    sinks.append(TailSink(tail))
    tasks += [asyncio.create_task(tail.run()), asyncio.create_task(delivery.run())]
    log.info("webhooks: timeout %s, retries after %s, disabled after %s failing, "
             "%d in flight (%d per endpoint), private networks %s, retention %d days",
             spoken(partners.webhook_timeout),
             ",".join(spoken(s) for s in partners.webhook_retry_schedule),
             spoken(partners.webhook_disable_after), partners.webhook_concurrency,
             partners.webhook_endpoint_concurrency,
             "allowed" if partners.webhook_allow_private_networks else "refused",
             partners.webhook_retention_days)
    # the NATS/MQTT relay: its TailSinks, live only while this instance holds the lock
    relay = open_relay(settings, pool)
    if relay is not None:
        sinks.append(relay.sink)
        tasks.append(asyncio.create_task(relay.run()))
    log.info("partner sinks: %s", ", ".join(s.name for s in sinks) or "none")
    try:
        yield sinks
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def open_relay(settings: Settings, pool: asyncpg.Pool) -> Relay | None:
    """The NATS/MQTT relay if EVENT_STREAM_URL or MQTT_URL is set (its task not started)."""
    p = settings.partners
    handlers: list[RelayHandler] = []
    where = []
    if p.event_stream_url:
        handlers.append(JetStreamHandler(StreamSettings(
            url=p.event_stream_url, name=p.event_stream_name,
            prefix=p.event_stream_subject_prefix, max_age=p.event_stream_max_age,
            duplicate_window=p.event_stream_duplicate_window, source=p.event_source,
            replicas=p.event_stream_replicas)))
        nodes = ",".join(shown(url.strip()) for url in p.event_stream_url.split(","))
        where.append(f"NATS {nodes} stream {p.event_stream_name} R{p.event_stream_replicas} "
                     f"({p.event_stream_subject_prefix}.>)")
    if p.mqtt_url:
        handlers.append(MqttHandler(BrokerSettings(
            url=p.mqtt_url, prefix=p.mqtt_topic_prefix, events=p.mqtt_events,
            source=p.event_source)))
        where.append(f"MQTT {shown(p.mqtt_url)} ({p.mqtt_topic_prefix}/availability/+"
                     + (f", {p.mqtt_topic_prefix}/events/+" if p.mqtt_events else "") + ")")
    if not handlers:
        return None
    dsn = database_url(settings)
    log.info("relay: %s; published by the instance holding the relay lock", "; ".join(where))
    return Relay(pool, lambda: leases.connect(dsn), handlers,
                 lock_retry=p.relay_lock_retry, sweep_interval=p.tail_sweep_interval)
