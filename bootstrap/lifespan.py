"""The app's lifespan: opens the services (pools, feed, unit of work, gatekeeper), runs the
background tasks (expiry, key re-check, ingestion, ledger check, replica lag), gc pacing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from starlette.applications import Starlette

from bootstrap.ingest import open_ingest
from bootstrap.partners import open_partners
from bootstrap.resources import open_feed, open_pool, open_reads
from ops.gc_pacing import paced_collections
from service.access import Gatekeeper
from service.expiry import run_expiry
from service.inventory import Inventory
from service.ledger_watch import run_ledger_check
from service.replica_watch import watch_replica
from settings import Settings
from web.state import Services

log = logging.getLogger("inventory")

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[dict[str, Any]]]


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings, redis: Redis | RedisCluster | None,
) -> AsyncIterator[Services]:
    """The services over a fresh pool and `redis` (which the caller closes), with their
    background tasks running until the block exits."""
    async with (
        open_pool(settings) as pool,
        open_reads(settings, pool) as reads,
        open_partners(settings) as sinks,
        open_feed(settings, pool, redis, sinks=sinks) as feed,
    ):
        inventory = Inventory(pool=pool, limits=settings.limits, publish=feed.publish,
                              group_commit=settings.group_commit)
        gatekeeper = Gatekeeper(
            pool, admin_token=settings.admin_api_key, anonymous=settings.anonymous_scopes,
            max_feeds_per_key=settings.max_connections_per_key,
            max_feeds_per_address=settings.max_anonymous_feeds_per_address,
        )
        tasks = [
            asyncio.create_task(run_expiry(
                inventory, settings.expiry_interval, settings.idempotency_retention_hours
            )),
            asyncio.create_task(gatekeeper.run(settings.key_recheck_interval)),
        ]
        if settings.ledger_check_interval > 0:
            tasks.append(asyncio.create_task(
                run_ledger_check(pool, settings.ledger_check_interval)))
        if reads is not None:
            tasks.append(asyncio.create_task(watch_replica(
                reads, settings.replica.check_interval, settings.replica.max_lag)))
        try:
            async with open_ingest(settings, inventory, gatekeeper):
                yield Services(inventory=inventory, feed=feed, gatekeeper=gatekeeper,
                               redis=redis, partners=settings.partners, reads=reads)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def lifespan(settings: Settings, redis: Redis | RedisCluster | None) -> Lifespan:
    """Hands the services on as the lifespan state {"services": Services}; closes `redis`
    (shared with the rate limiter) after the feed has stopped."""

    @contextlib.asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        if len(settings.anonymous_scopes) > 1:
            log.warning("callers without an API key may: %s",
                        ", ".join(sorted(s.value for s in settings.anonymous_scopes)))
        try:
            async with (
                open_services(settings, redis) as services,
                paced_collections(settings.gc_full_interval),
            ):
                yield {"services": services}
        finally:
            if redis is not None:
                await redis.aclose()

    return run
