"""The shared resources, each opened and closed in one place: the database pools (primary, read
replica), the one Redis client, the feed; bootstrap/lifespan.py and cli.py open them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from feed.backends import redis_client
from feed.broadcast import broadcast_over
from feed.hub import StockFeed
from feed.outbox import Sink
from feed.read_model import ReadModel
from feed.shards import cluster_client
from service.inventory import Inventory
from settings import Settings
from settings.redis import cluster_address, is_cluster
from store import database, migrations
from store.errors import connection_lost
from store.read_pool import ReadPool

log = logging.getLogger("inventory")
T = TypeVar("T")


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    return database.embedded_database_url(settings.data_dir)


@contextlib.asynccontextmanager
async def open_pool(
    settings: Settings, *, min_size: int | None = None, max_size: int | None = None,
    migrate: bool | None = None,
) -> AsyncIterator[asyncpg.Pool]:
    """The pool (settings' sizes unless given), migrated first if `migrate` (default:
    MIGRATE_ON_START)."""
    url = database_url(settings)
    pool: asyncpg.Pool = await _retried("opening the pool", lambda: database.create_pool(
        url,
        min_size=settings.pool_min_size if min_size is None else min_size,
        max_size=settings.pool_max_size if max_size is None else max_size,
    ))
    try:
        if settings.migrate_on_start if migrate is None else migrate:
            await _retried("migrations", lambda: _migrate(pool))
        yield pool
    finally:
        await pool.close()


@contextlib.asynccontextmanager
async def open_reads(settings: Settings, primary: asyncpg.Pool) -> AsyncIterator[ReadPool | None]:
    """Reads that may be stale over DATABASE_READ_URL's pool (None without one). A replica
    that does not answer at start delays nothing: its pool connects on first use, and the
    reads stay on the primary until service/replica_watch.py finds it caught up."""
    config = settings.replica
    if config.url is None:
        yield None
        return
    try:
        pool = await database.create_pool(
            config.url, min_size=config.pool_min_size, max_size=config.pool_max_size)
    except Exception as exc:
        if not (connection_lost(exc) or isinstance(exc, OSError | TimeoutError)):
            raise
        log.warning("read replica: no connection at start (%s); reads go to the primary "
                    "until it answers", type(exc).__name__)
        pool = await database.create_pool(config.url, min_size=0,
                                          max_size=config.pool_max_size)
    try:
        yield ReadPool(primary, pool)
    finally:
        await pool.close()


async def _migrate(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await migrations.migrate(conn)


async def _retried(what: str, step: Callable[[], Awaitable[T]], attempts: int = 20) -> T:
    """A startup step, tried again while the database connection breaks (an instance started
    during a database blip starts once it is back, within about 10 s, instead of exiting;
    the chaos test restarts instances while it cuts connections)."""
    for attempt in range(1, attempts + 1):
        try:
            return await step()
        except Exception as exc:
            if attempt == attempts or not connection_lost(exc):
                raise
            log.warning("%s: the database connection broke (%s); trying again",
                        what, type(exc).__name__)
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def open_inventory(settings: Settings) -> AsyncIterator[Inventory]:
    """The unit of work over a fresh pool, publishing nowhere (the CLI's, the seed's)."""
    async with open_pool(settings) as pool:
        yield Inventory(pool=pool, limits=settings.limits)


def shared_redis(settings: Settings) -> Redis | RedisCluster | None:
    """The one Redis client of a process (feed, rate limit, /readyz), or None without
    REDIS_URL: a cluster client for `redis+cluster://` or REDIS_CLUSTER=true. It connects
    on first use; whoever builds it closes it."""
    if not settings.redis_url:
        return None
    if settings.redis_cluster or is_cluster(settings.redis_url, False):
        address = cluster_address(settings.redis_url)
        return cluster_client(address.nodes, tls=address.tls, username=address.username,
                              password=address.password)
    return redis_client(settings.redis_url)


@contextlib.asynccontextmanager
async def open_feed(
    settings: Settings, pool: asyncpg.Pool, redis: Redis | RedisCluster | None, *,
    sinks: Sequence[Sink] = (),
) -> AsyncIterator[StockFeed]:
    """The feed over `redis` (left open: its owner closes it) or in-process without one,
    sending to `sinks` after the backbone (bootstrap/partners.py's)."""
    broadcast = broadcast_over(redis, queue_size=settings.feed_queue_size)
    await broadcast.connect()
    feed = StockFeed(
        broadcast, pool, queue_size=settings.feed_queue_size,
        sweep_interval=settings.feed_sweep_interval, prefix=settings.feed_prefix,
        sinks=sinks, hash_tags=isinstance(redis, RedisCluster),
    )
    if settings.read_model and settings.read_model_size > 0:
        feed.read_model = ReadModel(feed, size=settings.read_model_size,
                                    wait=settings.read_model_wait)
    await feed.start()
    try:
        yield feed
    finally:
        await feed.stop()
        await broadcast.disconnect()
