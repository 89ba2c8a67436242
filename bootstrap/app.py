"""Builds the ASGI app from the settings: the GraphQL view, the rate limit over the shared Redis
client, middleware, routes, the lifespan and the fast path; server.py's create_app calls it.

When tracing is configured (ops/tracing.py), web/tracing.py's HTTP server span wraps it all."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)

from bootstrap.lifespan import lifespan
from bootstrap.resources import shared_redis
from ops import tracing
from resolvers.limits import CostLimits, limit_extensions
from resolvers.registered import registered_extensions
from schema.root import build_schema
from settings import Settings
from web.fast_path import GraphQLFastPath
from web.http_limits import BodyLimit, RequestTimeout
from web.http_metrics import ResponseCounter
from web.ops_routes import healthz, metrics_access, readyz
from web.persisted import PersistedQueries, load_manifest
from web.rate_limit import Counter, RateLimit, RateLimitMiddleware
from web.request_id import RequestIdMiddleware
from web.revalidation import Revalidation
from web.sse import sku_events
from web.sse_skus import sku_list_events
from web.tracing import TracedApp
from web.view import STATIC_DIR, InventoryGraphQL


async def demo_page(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "demo" / "index.html")


# The console's page: its scripts, styles and connections from this origin only, never framed.
CONSOLE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


async def console_page(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "console" / "index.html", headers=CONSOLE_HEADERS)


def persisted_queries(
    settings: Settings, redis: Redis | RedisCluster | None
) -> PersistedQueries:
    """APQ over this instance's LRU and the shared Redis; the manifest read once, at start."""
    caching = settings.caching
    path = caching.persisted_queries_file
    return PersistedQueries(
        cache_size=caching.apq_cache_size, redis=redis, prefix=settings.feed_prefix,
        ttl_seconds=caching.apq_ttl_seconds,
        manifest=load_manifest(path) if path is not None else None,
        only=caching.persisted_queries_only,
        admin_bypass=caching.persisted_queries_admin_bypass,
    )


def graphql_view(
    settings: Settings, redis: Redis | RedisCluster | None = None
) -> InventoryGraphQL:
    persisted = persisted_queries(settings, redis)
    view = InventoryGraphQL(
        build_schema(registered_extensions(persisted.documents) + limit_extensions(
            max_depth=settings.max_query_depth, max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens, introspection=settings.introspection,
            costs=CostLimits(settings.max_query_cost, settings.max_query_cost_anonymous,
                             settings.cost_levels_per_sku),
        ), compiled_reads=settings.compiled_reads,
           holds=settings.compiled_holds),
        keep_alive=True,
        # a page on another origin (a shop's product page) may open a WebSocket when its origin
        # is in CORS_ORIGINS, as its HTTP requests may; others are refused at the handshake
        allowed_origins=settings.cors_origins,
        keep_alive_interval=settings.ws_ping_interval or 15,  # legacy graphql-ws "ka" messages
        max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
        subscription_protocols=(
            GRAPHQL_TRANSPORT_WS_PROTOCOL,
            GRAPHQL_WS_PROTOCOL,
            GRAPHQL_SSE_PROTOCOL,
            MULTIPART_SUBSCRIPTION_PROTOCOL,
        ),
    )
    view.persisted = persisted
    view.revalidation = Revalidation(max_tokens=settings.max_tokens)
    view.read_cache_max_age = settings.caching.read_cache_max_age
    return view


def middleware(settings: Settings, limit: RateLimit) -> list[Middleware]:
    return [
        Middleware(RequestIdMiddleware),
        Middleware(RateLimitMiddleware, limit=limit),
        Middleware(
            CORSMiddleware, allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Accept", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"], max_age=600,
        ),
        Middleware(BodyLimit, max_bytes=settings.max_body_bytes,
                   seconds=settings.request_timeout_seconds,
                   bulk_bytes=settings.max_bulk_body_bytes),
        Middleware(RequestTimeout, seconds=settings.request_timeout_seconds),
    ]


def routes(graphql: InventoryGraphQL, settings: Settings) -> list[BaseRoute]:
    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_access(settings.metrics_allow, settings.metrics_token)),
        Route("/skus/events", sku_list_events(settings.sse_max_skus)),
        Route("/skus/{code}/events", sku_events),
        Route("/demo", demo_page),
        Route("/console", console_page),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Mount(
            "/static",
            GZipMiddleware(StaticFiles(directory=STATIC_DIR, check_dir=False)),
            name="static",
        ),
    ]


def build_app(settings: Settings) -> ASGIApp:
    """Connects nothing: the lifespan opens the resources, the Redis client on first use.
    Tracing (ops/tracing.py) is configured first, so the schema gets its GraphQL span."""
    if tracing.configure():
        return TracedApp(_build_app(settings))
    return _build_app(settings)


def _build_app(settings: Settings) -> ASGIApp:
    redis = shared_redis(settings)
    graphql = graphql_view(settings, redis)
    limit = RateLimit(
        Counter(redis, settings.feed_prefix),
        per_key=settings.rate_limit_per_key, anonymous=settings.rate_limit_anonymous,
    )
    graphql.rate_limit = limit  # each WebSocket `subscribe`/`start` counts too
    app = Starlette(
        middleware=middleware(settings, limit), routes=routes(graphql, settings),
        lifespan=lifespan(settings, redis),
    )
    if not settings.http_fast_path:
        return ResponseCounter(app)
    return ResponseCounter(GraphQLFastPath(
        app, graphql, limit=limit, max_body_bytes=settings.max_body_bytes,
        timeout_seconds=settings.request_timeout_seconds,
        max_bulk_body_bytes=settings.max_bulk_body_bytes))
