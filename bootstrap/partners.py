"""The partner feeds, each opened and closed here: webhooks (their fan-out from the ledger and
their delivery) and the NATS/MQTT relay; bootstrap/lifespan.py hands their sinks to the feed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg

from feed.outbox import Sink
from feed.tail import TailSink
from feed.webhook_delivery import DeliveryLoop
from feed.webhook_fanout import FanoutTail, WebhookFanout
from settings import Settings

log = logging.getLogger("inventory")


@contextlib.asynccontextmanager
async def open_partners(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[list[Sink]]:
    """Runs the partner feeds' tasks until the block exits; yields the outbox sinks that wake
    them after each commit."""
    sinks: list[Sink] = []
    tasks: list[asyncio.Task[None]] = []
    # webhooks: the fan-out tail (a TailSink) and the delivery loop (issue 12)
    partners = settings.partners
    delivery = DeliveryLoop(pool, partners)
    fanout = FanoutTail(pool, WebhookFanout(partners.event_source), delivery.wake,
                        sweep_interval=partners.tail_sweep_interval)
    sinks.append(TailSink(fanout))
    tasks += [asyncio.create_task(fanout.run()), asyncio.create_task(delivery.run())]
    log.info("webhooks: timeout %gs, retries after %s, disabled after %gs failing, "
             "%d in flight (%d per endpoint), private networks %s, retention %d days",
             partners.webhook_timeout, ",".join(f"{s:g}s" for s in partners.webhook_retry_schedule),
             partners.webhook_disable_after, partners.webhook_concurrency,
             partners.webhook_endpoint_concurrency,
             "allowed" if partners.webhook_allow_private_networks else "refused",
             partners.webhook_retention_days)
    # the NATS/MQTT relay: its TailSinks, live only while this instance holds the lock
    log.info("partner sinks: %s", ", ".join(s.name for s in sinks) or "none")
    try:
        yield sinks
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
