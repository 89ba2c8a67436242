"""Configuration, read once from the environment (see the README for every variable); server.py
and cli.py read it and hand the values on."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from domain.access import Scope, parse_scopes
from domain.rules import MAX_FIGURE, Limits
from settings.caching import CacheSettings
from settings.ingest import IngestSettings
from settings.partners import PartnerSettings
from settings.redis import cluster_address, is_cluster
from settings.replicas import ReplicaSettings
from settings.values import duration, flag, integer


def _anonymous_scopes(env: Mapping[str, str]) -> frozenset[Scope]:
    """ANONYMOUS_SCOPES (default inventory:read); ANONYMOUS_READS=false closes reads too."""
    raw = env.get("ANONYMOUS_SCOPES")
    scopes = parse_scopes([s.strip() for s in (raw or "inventory:read").split(",") if s.strip()])
    if not flag(env, "ANONYMOUS_READS", True):
        scopes = frozenset()
    return scopes


def _forwarded(env: Mapping[str, str]) -> str:
    """FORWARDED_ALLOW_IPS: a comma-separated list of proxy addresses and networks (uvicorn
    takes the rightmost X-Forwarded-For hop outside them as the client); `*` is refused, as it
    lets any client pick its own address."""
    raw = (env.get("FORWARDED_ALLOW_IPS") or "127.0.0.1,::1").strip()
    if "*" in raw:
        raise ValueError("FORWARDED_ALLOW_IPS must list the proxies' addresses or networks, "
                         "not `*` (any client could pick its own address)")
    return raw


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    redis_url: str | None = None
    # REDIS_URL names a Redis Cluster (settings/redis.py): sharded pub/sub, hash-tagged keys
    redis_cluster: bool = False
    data_dir: Path = Path(".data")
    pool_min_size: int = 1
    pool_max_size: int = 8
    host: str = "127.0.0.1"
    port: int = 8000
    limits: Limits = field(default_factory=Limits)
    expiry_interval: float = 0.25
    idempotency_retention_hours: int = 24
    migrate_on_start: bool = True
    admin_api_key: str | None = None
    anonymous_scopes: frozenset[Scope] = frozenset({Scope.READ})
    cors_origins: list[str] = field(default_factory=list)
    key_recheck_interval: float = 2.0
    rate_limit_per_key: int = 1000
    rate_limit_anonymous: int = 200
    max_subscriptions_per_connection: int = 100
    max_connections_per_key: int = 200
    log_level: str = "INFO"
    log_json: bool = True
    grace_seconds: int = 20
    group_commit: bool = True
    max_query_depth: int = 15
    max_aliases: int = 30
    max_tokens: int = 2000
    max_body_bytes: int = 131072
    # web/http_limits.py: a body naming bulkAdjustStock/bulkSetStock may be this large
    # (BULK_MAX_LINES lines with keys and references: about 150 bytes each)
    max_bulk_body_bytes: int = 1048576
    request_timeout_seconds: float = 10.0
    introspection: bool = True
    http_fast_path: bool = True
    # ops/gc_pacing.py; 0 = CPython's automatic full collections. from_env turns it on (300 s):
    # the dataclass default keeps in-process test servers on CPython's defaults
    gc_full_interval: float = 0.0
    feed_queue_size: int = 1000
    feed_sweep_interval: float = 1.0
    feed_prefix: str = "inventory"
    # feed/read_model.py: SKU figures kept current from the feed (READ_MODEL, on by default:
    # a plain read may lag another instance's write until the feed delivers it, never this
    # instance's own, feed/own_writes.py), at most this many SKUs, each holding a backbone
    # subscription while kept
    read_model: bool = True
    read_model_size: int = 10000
    # feed/own_writes.py: how long a read waits for the feed to deliver this instance's own
    # commit to the read model before reading PostgreSQL instead
    read_model_wait: float = 0.1
    # schema/compiled.py: the plain sku/skusByCode reads without per-field execution
    compiled_reads: bool = True
    # schema/compiled_holds.py: the hold mutations' resolvers and payloads with less machinery
    compiled_holds: bool = True
    ws_ping_interval: float = 45.0
    # resolvers/cost.py: the static cost of a document, refused past these (0 = unlimited)
    max_query_cost: int = 20000
    max_query_cost_anonymous: int = 5000
    cost_levels_per_sku: int = 10
    # cli.py serve: uvicorn's limit_concurrency (0 = none) and keep-alive timeout; the size
    # of a request's URL and headers (web/http_protocol.py)
    limit_concurrency: int = 20000
    keep_alive_timeout_seconds: int = 5
    max_header_bytes: int = 16384
    # web/ops_routes.py: /metrics answers these networks, or a bearer METRICS_TOKEN
    metrics_allow: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    metrics_token: str | None = None
    # feeds (sockets, SSE, HTTP subscriptions) opened without a key, per client address and
    # instance; a shared NAT is many shoppers, so more than one browser's worth
    max_anonymous_feeds_per_address: int = 500
    # web/sse_skus.py: the SKUs one `GET /skus/events` feed may follow (the console's table)
    sse_max_skus: int = 200
    # proxies whose X-Forwarded-For uvicorn believes: addresses and networks, never `*`
    forwarded_allow_ips: str = "127.0.0.1,::1"
    # service/ledger_watch.py: seconds between in-server ledger checks (0 = none). from_env
    # turns it on (1h); the dataclass default keeps in-process test servers quiet
    ledger_check_interval: float = 0.0
    # webhooks, the NATS JetStream stream, MQTT (settings/partners.py)
    partners: PartnerSettings = field(default_factory=PartnerSettings)
    # ingestion from NATS JetStream (settings/ingest.py)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    # DATABASE_READ_URL: a hot standby for reads that may be stale (settings/replicas.py)
    replica: ReplicaSettings = field(default_factory=ReplicaSettings)
    # ETag/Cache-Control of reads, persisted documents (settings/caching.py)
    caching: CacheSettings = field(default_factory=CacheSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        limits = Limits(
            max_quantity=integer(env, "MAX_QUANTITY", 1_000_000),
            default_ttl_seconds=integer(env, "DEFAULT_TTL_SECONDS", 15 * 60),
            max_ttl_seconds=integer(env, "MAX_TTL_SECONDS", 24 * 60 * 60),
            max_cart_lines=integer(env, "MAX_CART_LINES", 200),
            max_bulk_lines=integer(env, "BULK_MAX_LINES", 1000),
        )
        if not 0 < limits.max_quantity <= MAX_FIGURE:
            raise ValueError(f"need 0 < MAX_QUANTITY <= {MAX_FIGURE}")
        if limits.max_cart_lines <= 0:
            raise ValueError("need MAX_CART_LINES > 0")
        if limits.max_bulk_lines <= 0:
            raise ValueError("need BULK_MAX_LINES > 0")
        if not 0 < limits.default_ttl_seconds <= limits.max_ttl_seconds:
            raise ValueError("need 0 < DEFAULT_TTL_SECONDS <= MAX_TTL_SECONDS")
        if integer(env, "SSE_MAX_SKUS", 200) <= 0:
            raise ValueError("need SSE_MAX_SKUS > 0")
        redis_url = env.get("REDIS_URL") or None
        redis_cluster = is_cluster(redis_url, flag(env, "REDIS_CLUSTER", False))
        if redis_cluster and redis_url:
            cluster_address(redis_url)  # refused now, with the reason, rather than at first use
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            redis_url=redis_url,
            redis_cluster=redis_cluster,
            data_dir=Path(env.get("DATA_DIR") or ".data"),
            pool_min_size=integer(env, "DB_POOL_MIN_SIZE", 1),
            pool_max_size=integer(env, "DB_POOL_MAX_SIZE", 8),
            host=env.get("HOST") or "127.0.0.1",
            port=integer(env, "PORT", 8000),
            limits=limits,
            expiry_interval=integer(env, "EXPIRY_INTERVAL_MS", 250) / 1000,
            idempotency_retention_hours=integer(env, "IDEMPOTENCY_RETENTION_HOURS", 24),
            feed_queue_size=integer(env, "FEED_QUEUE_SIZE", 1000),
            feed_sweep_interval=integer(env, "FEED_SWEEP_INTERVAL_MS", 1000) / 1000,
            feed_prefix=env.get("FEED_CHANNEL_PREFIX") or "inventory",
            read_model=flag(env, "READ_MODEL", True),
            read_model_size=integer(env, "READ_MODEL_SIZE", 10000),
            read_model_wait=integer(env, "READ_MODEL_WAIT_MS", 100, minimum=0) / 1000,
            compiled_reads=flag(env, "COMPILED_READS", True),
            compiled_holds=flag(env, "COMPILED_HOLDS", True),
            ws_ping_interval=float(integer(env, "WS_PING_INTERVAL_SECONDS", 45)),
            migrate_on_start=flag(env, "MIGRATE_ON_START", True),
            admin_api_key=env.get("ADMIN_API_KEY") or None,
            anonymous_scopes=_anonymous_scopes(env),
            cors_origins=[o.strip() for o in (env.get("CORS_ORIGINS") or "").split(",")
                          if o.strip()],
            key_recheck_interval=integer(env, "KEY_RECHECK_INTERVAL_MS", 2000) / 1000,
            rate_limit_per_key=integer(env, "RATE_LIMIT_PER_KEY", 1000),
            rate_limit_anonymous=integer(env, "RATE_LIMIT_ANONYMOUS", 200),
            max_subscriptions_per_connection=integer(env, "MAX_SUBSCRIPTIONS_PER_CONNECTION", 100),
            max_connections_per_key=integer(env, "MAX_CONNECTIONS_PER_KEY", 200),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            log_json=(env.get("LOG_FORMAT") or "json").lower() == "json",
            grace_seconds=integer(env, "GRACE_SECONDS", 20),
            group_commit=flag(env, "RESERVE_GROUP_COMMIT", True),
            max_query_depth=integer(env, "MAX_QUERY_DEPTH", 15),
            max_aliases=integer(env, "MAX_ALIASES", 30),
            max_tokens=integer(env, "MAX_TOKENS", 2000),
            max_body_bytes=integer(env, "MAX_BODY_BYTES", 131072),
            max_bulk_body_bytes=integer(env, "MAX_BULK_BODY_BYTES", 1048576),
            request_timeout_seconds=float(integer(env, "REQUEST_TIMEOUT_SECONDS", 10)),
            introspection=flag(env, "INTROSPECTION", True),
            http_fast_path=flag(env, "HTTP_FAST_PATH", True),
            gc_full_interval=float(integer(env, "GC_FULL_INTERVAL_SECONDS", 300)),
            max_query_cost=integer(env, "MAX_QUERY_COST", 20000),
            max_query_cost_anonymous=integer(env, "MAX_QUERY_COST_ANONYMOUS", 5000),
            cost_levels_per_sku=integer(env, "COST_LEVELS_PER_SKU", 10),
            limit_concurrency=integer(env, "LIMIT_CONCURRENCY", 20000),
            keep_alive_timeout_seconds=integer(env, "KEEP_ALIVE_TIMEOUT_SECONDS", 5),
            max_header_bytes=integer(env, "MAX_HEADER_BYTES", 16384),
            metrics_allow=tuple(n.strip() for n in (
                env.get("METRICS_ALLOW", "127.0.0.1/32,::1/128")).split(",") if n.strip()),
            metrics_token=env.get("METRICS_TOKEN") or None,
            max_anonymous_feeds_per_address=integer(env, "MAX_ANONYMOUS_FEEDS_PER_ADDRESS", 500),
            sse_max_skus=integer(env, "SSE_MAX_SKUS", 200),
            forwarded_allow_ips=_forwarded(env),
            ledger_check_interval=duration(env.get("LEDGER_CHECK_INTERVAL") or "1h",
                                           "LEDGER_CHECK_INTERVAL"),
            partners=PartnerSettings.from_env(env),
            ingest=IngestSettings.from_env(env),
            replica=ReplicaSettings.from_env(env),
            caching=CacheSettings.from_env(env),
        )
