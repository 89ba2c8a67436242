"""The inventory server: `uvicorn server:app`, or `python server.py serve|migrate|seed`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

from redis import asyncio as aioredis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)

from feed.broadcast import make_broadcast
from feed.hub import StockFeed
from ops.gc_pacing import paced_collections
from ops.health import healthz, readyz
from ops.metrics import metrics_endpoint
from resolvers.limits import limit_extensions
from schema.root import build_schema
from service.access import Gatekeeper
from service.batching import ReserveBatcher
from service.expiry import run_expiry
from service.inventory import Inventory
from settings import Settings
from store import database, migrations
from web.fast_path import GraphQLFastPath
from web.http_limits import BodyLimit, RequestTimeout
from web.rate_limit import Counter, RateLimit, RateLimitMiddleware
from web.request_id import RequestIdMiddleware
from web.sse import sku_events
from web.view import STATIC_DIR, InventoryGraphQL

log = logging.getLogger("inventory")


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    return database.embedded_database_url(settings.data_dir)


@contextlib.asynccontextmanager
async def open_inventory(settings: Settings) -> AsyncIterator[Inventory]:
    pool = await database.create_pool(
        database_url(settings), min_size=settings.pool_min_size, max_size=settings.pool_max_size
    )
    try:
        if settings.migrate_on_start:
            async with pool.acquire() as conn:
                await migrations.migrate(conn)
        yield Inventory(pool=pool, limits=settings.limits)
    finally:
        await pool.close()


@contextlib.asynccontextmanager
async def open_feed(settings: Settings, inventory: Inventory) -> AsyncIterator[StockFeed]:
    broadcast = make_broadcast(settings.redis_url)
    await broadcast.connect()
    feed = StockFeed(
        broadcast, inventory.pool, queue_size=settings.feed_queue_size,
        sweep_interval=settings.feed_sweep_interval, prefix=settings.feed_prefix,
    )
    await feed.start()
    try:
        yield feed
    finally:
        await feed.stop()
        await broadcast.disconnect()


async def demo_page(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "demo" / "index.html")


def create_app(settings: Settings | None = None) -> ASGIApp:
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        if len(settings.anonymous_scopes) > 1:
            log.warning("callers without an API key may: %s",
                        ", ".join(sorted(s.value for s in settings.anonymous_scopes)))
        async with (
            open_inventory(settings) as plain, open_feed(settings, plain) as feed,
            paced_collections(settings.gc_full_interval),
        ):
            inventory = dataclasses.replace(plain, publish=feed.publish)
            gatekeeper = Gatekeeper(
                inventory.pool, admin_token=settings.admin_api_key,
                anonymous=settings.anonymous_scopes,
                max_feeds_per_key=settings.max_connections_per_key,
            )
            tasks = [
                asyncio.create_task(run_expiry(
                    inventory, settings.expiry_interval, settings.idempotency_retention_hours
                )),
                asyncio.create_task(gatekeeper.run(settings.key_recheck_interval)),
            ]
            redis = (aioredis.Redis.from_url(settings.redis_url, socket_timeout=1,
                                             socket_connect_timeout=1)
                     if settings.redis_url else None)
            try:
                yield {"inventory": inventory, "feed": feed, "gatekeeper": gatekeeper,
                       "redis": redis,
                       "batcher": ReserveBatcher(inventory) if settings.group_commit else None}
            finally:
                if redis is not None:
                    await redis.aclose()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    graphql = InventoryGraphQL(
        build_schema(limit_extensions(
            max_depth=settings.max_query_depth, max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens, introspection=settings.introspection,
        )),
        keep_alive=True,
        keep_alive_interval=settings.ws_ping_interval or 15,  # legacy graphql-ws "ka" messages
        max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
        subscription_protocols=(
            GRAPHQL_TRANSPORT_WS_PROTOCOL,
            GRAPHQL_WS_PROTOCOL,
            GRAPHQL_SSE_PROTOCOL,
            MULTIPART_SUBSCRIPTION_PROTOCOL,
        ),
    )
    limit = RateLimit(
        Counter(settings.redis_url, settings.feed_prefix),
        per_key=settings.rate_limit_per_key, anonymous=settings.rate_limit_anonymous,
    )
    app = Starlette(
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(RateLimitMiddleware, limit=limit),
            Middleware(
                CORSMiddleware, allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "Accept", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After"], max_age=600,
            ),
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
            Middleware(RequestTimeout, seconds=settings.request_timeout_seconds),
        ],
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            Route("/skus/{code}/events", sku_events),
            Route("/demo", demo_page),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Mount(
                "/static",
                GZipMiddleware(StaticFiles(directory=STATIC_DIR, check_dir=False)),
                name="static",
            ),
        ],
        lifespan=lifespan,
    )
    if not settings.http_fast_path:
        return app
    return GraphQLFastPath(app, graphql, limit=limit, max_body_bytes=settings.max_body_bytes,
                           timeout_seconds=settings.request_timeout_seconds)


app = create_app()


if __name__ == "__main__":
    from cli import main

    sys.exit(main())
