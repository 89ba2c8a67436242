"""The inventory server: `uvicorn server:app`, or `python server.py serve|migrate|seed`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)

from domain.access import Scope
from feed.broadcast import make_broadcast
from feed.hub import StockFeed
from feed.sse import sku_events
from schema.root import build_schema
from service.access import Gatekeeper
from service.expiry import run_expiry
from service.inventory import Inventory
from settings import Settings
from store import database, keys, migrations
from web.rate_limit import Counter, RateLimitMiddleware
from web.request_id import RequestIdMiddleware
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


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        if len(settings.anonymous_scopes) > 1:
            log.warning("callers without an API key may: %s",
                        ", ".join(sorted(s.value for s in settings.anonymous_scopes)))
        async with open_inventory(settings) as plain, open_feed(settings, plain) as feed:
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
            try:
                yield {"inventory": inventory, "feed": feed, "gatekeeper": gatekeeper}
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def healthz(request: Request) -> Response:
        inventory: Inventory = request.state.inventory
        try:
            async with asyncio.timeout(2), inventory.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except Exception:
            return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
        return JSONResponse({"status": "ok"})

    graphql = InventoryGraphQL(
        build_schema(),
        keep_alive=True,
        keep_alive_interval=15,
        max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
        subscription_protocols=(
            GRAPHQL_TRANSPORT_WS_PROTOCOL,
            GRAPHQL_WS_PROTOCOL,
            GRAPHQL_SSE_PROTOCOL,
            MULTIPART_SUBSCRIPTION_PROTOCOL,
        ),
    )
    return Starlette(
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(
                RateLimitMiddleware, counter=Counter(settings.redis_url, settings.feed_prefix),
                per_key=settings.rate_limit_per_key, anonymous=settings.rate_limit_anonymous,
            ),
            Middleware(
                CORSMiddleware, allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "Accept", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After"], max_age=600,
            ),
        ],
        routes=[
            Route("/healthz", healthz),
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


app = create_app()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="server.py", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--reload", action="store_true")
    serve.add_argument("--seed", action="store_true", help="load the demo catalogue first")
    commands.add_parser("migrate", help="apply pending database migrations")
    commands.add_parser("seed", help="load the demo catalogue (skipped if SKUs exist)")
    commands.add_parser("export-schema", help="print the served schema as SDL")
    keys = commands.add_parser("keys", help="create, list, revoke API keys").add_subparsers(
        dest="action", required=True
    )
    create = keys.add_parser("create", help="create a key; prints its secret once")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", required=True,
                        choices=[s.value for s in Scope])
    create.add_argument("--location", action="append",
                        help="bind the key to these locations (repeatable)")
    keys.add_parser("list", help="list keys (never their secrets)")
    revoke = keys.add_parser("revoke", help="revoke a key by id or prefix")
    revoke.add_argument("key")
    scopes = keys.add_parser("set-scopes", help="replace a key's scopes")
    scopes.add_argument("key")
    scopes.add_argument("--scope", action="append", required=True,
                        choices=[s.value for s in Scope])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.command == "export-schema":
        print(build_schema().as_str())
        return 0
    settings = Settings.from_env()
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    if args.command == "keys":
        return asyncio.run(_keys(settings, args))
    if args.command == "seed" or getattr(args, "seed", False):
        asyncio.run(_seed(settings))
    if args.command == "serve":
        return _serve(settings, args)
    return 0


async def _migrate(settings: Settings) -> int:
    pool = await database.create_pool(database_url(settings), min_size=1, max_size=1)
    async with pool.acquire() as conn:
        applied = await migrations.migrate(conn)
    await pool.close()
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


async def _keys(settings: Settings, args: argparse.Namespace) -> int:
    async with open_inventory(settings) as inventory, inventory.pool.acquire() as conn:
        if args.action == "create":
            token, key = await keys.create(
                conn, args.name, [Scope(s) for s in args.scope], args.location
            )
            print(f"created key {key.key_id} ({key.name}); its secret, shown only now:")
            print(token)
        elif args.action == "list":
            for row in await keys.listing(conn):
                print(keys.describe(row))
        elif args.action == "revoke":
            if not await keys.revoke(conn, args.key):
                print(f"no live key {args.key!r}", file=sys.stderr)
                return 1
            print(f"revoked {args.key}")
        elif args.action == "set-scopes":
            if not await keys.set_scopes(conn, args.key, [Scope(s) for s in args.scope]):
                print(f"no key {args.key!r}", file=sys.stderr)
                return 1
            print(f"{args.key} now has {', '.join(args.scope)}")
    return 0


async def _seed(settings: Settings) -> None:
    from store.seed import seed

    async with open_inventory(settings) as inventory:
        created = await seed(inventory)
    print(f"seeded {created} SKUs" if created else "catalogue already present; seed skipped")


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import os

    import uvicorn

    if not settings.database_url:
        # Start the embedded server here, once, so that every worker shares it.
        os.environ["DATABASE_URL"] = database_url(settings)
    uvicorn.run(
        "server:app",
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        reload=args.reload,
        log_level="info",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
