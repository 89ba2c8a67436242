"""Prometheus metrics, counted by every layer and exposed by web/ops_routes.py's /metrics. With
several workers, set PROMETHEUS_MULTIPROC_DIR (serve --workers does it); /metrics merges them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

REQUESTS = Counter(
    "inventory_graphql_requests", "GraphQL operations", ["operation", "type", "outcome"]
)
REQUEST_SECONDS = Histogram(
    "inventory_graphql_request_seconds", "GraphQL operation duration", ["operation", "type"],
    buckets=LATENCY,
)
RESERVATIONS = Counter(
    "inventory_reservations",
    "Reservations by outcome (held, insufficient, expired, committed, released)", ["outcome"],
)
STOCK_EVENTS = Counter("inventory_stock_events", "Committed stock changes", ["kind"])
HTTP_CACHE = Counter(
    "inventory_http_cache_answers",
    "GraphQL HTTP answers by caching (not_modified: a 304, tagged: a 200 with an ETag, "
    "no_store)", ["outcome"],
)
PERSISTED = Counter(
    "inventory_persisted_queries",
    "Persisted documents by outcome (hit, stored, and each refusal's code)", ["outcome"],
)
WEBSOCKETS = Gauge(
    "inventory_websocket_connections", "Open GraphQL WebSocket connections",
    multiprocess_mode="livesum",
)
SUBSCRIPTIONS = Gauge(
    "inventory_subscriptions", "Open subscriptions (GraphQL and SSE)", ["kind"],
    multiprocess_mode="livesum",
)
GC_FULL_SECONDS = Histogram(
    "inventory_gc_full_collection_seconds",
    "Scheduled full garbage collections (GC_FULL_INTERVAL_SECONDS)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
PUBLISHED = Counter(
    "inventory_events_published",
    "Events published to the backbone sink only (ok, failed; dropped: the outbox was full); "
    "every sink's: inventory_sink_events", ["result"],
)
SINK_EVENTS = Counter(
    "inventory_sink_events",
    "Committed events per outbox sink (backbone and any other), by outcome: ok, failed, "
    "dropped (the outbox was full)", ["sink", "outcome"],
)
READ_MODEL_READS = Counter(
    "inventory_read_model_reads", "SKU reads by whether the read model answered", ["outcome"]
)
READ_MODEL_LOSSES = Counter(
    "inventory_read_model_losses", "Read model entries dropped, by why", ["cause"]
)
READ_MODEL_ENTRIES = Gauge(
    "inventory_read_model_skus", "SKUs the read models keep", multiprocess_mode="livesum"
)
COMPILED_READS = Counter(
    "inventory_compiled_reads", "Query operations a compiled plan answered, or handed back "
    "to the normal path (fallback)", ["outcome"]
)
COMPILED_HOLDS = Counter(
    "inventory_compiled_holds", "Hold mutation payloads rendered from a plan (compiled), or "
    "handed back to graphql-core's completion (fallback)", ["outcome"]
)
DELIVERED = Counter("inventory_events_delivered", "Events handed to local subscribers")
SINK_LAG_EVENTS = Gauge(
    "inventory_sink_lag_events",
    "Ledger entries committed and not yet handed on, per partner sink (webhooks' fan-out, "
    "nats, mqtt), as of its last sweep", ["sink"],
)

SINK_LAG_SECONDS = Gauge(
    "inventory_sink_lag_seconds",
    "Age of the oldest ledger entry not yet handed on, per partner sink, as of its last sweep",
    ["sink"],
)

FEED_LAG = Histogram(
    "inventory_feed_lag_seconds",
    "commit_to_publish: commit until the backbone took it; commit_to_send: until a local "
    "subscriber's queue got it",
    ["stage"], buckets=LATENCY,
)
POOL = Gauge(
    "inventory_db_pool_connections", "Database pool connections", ["state"],
    multiprocess_mode="livesum",
)


@contextlib.contextmanager
def counted(kind: str) -> Iterator[None]:
    gauge = SUBSCRIPTIONS.labels(kind)
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


def registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return merged
    return DEFAULT_REGISTRY


def observe_pool(size: int, idle: int, max_size: int) -> None:
    POOL.labels("used").set(size - idle)
    POOL.labels("idle").set(idle)
    POOL.labels("max").set(max_size)


def exposition() -> tuple[bytes, str]:
    """The samples in Prometheus' text format, and its media type."""
    return generate_latest(registry()), CONTENT_TYPE_LATEST

# Partner feeds (issue 12): webhooks, NATS JetStream, MQTT
PARTNER_EVENTS = Counter(
    "inventory_partner_events",
    "Events sent to partners, per sink (webhooks, nats, mqtt) and outcome: delivered (a 2xx, "
    "or the broker's ack), failed (an attempt that will be retried), dead (webhooks: every "
    "attempt failed)", ["sink", "outcome"],
)

PARTNER_PENDING = Gauge(
    "inventory_partner_pending",
    "Deliveries waiting (webhooks: PENDING deliveries of enabled endpoints), as of the last sweep",
    ["sink"],
)

PARTNER_OLDEST_PENDING = Gauge(
    "inventory_partner_oldest_pending_seconds",
    "Age of the oldest delivery still waiting, per sink, as of the last sweep", ["sink"],
)

PARTNER_LATENCY = Histogram(
    "inventory_partner_latency_seconds",
    "Commit until the partner acknowledged the event (webhooks: a 2xx; nats: the JetStream "
    "ack; mqtt: the PUBACK), per sink", ["sink"], buckets=LATENCY,
)

RELAY_LEADER = Gauge(
    "inventory_relay_leader",
    "1 while this instance holds the NATS/MQTT relay's lock (one instance publishes at a time)",
)

INCOMING_OVERDUE = Gauge(
    "inventory_incoming_overdue",
    "Incoming stock past its expected date and still EXPECTED (late, not gone), as of the last "
    "/metrics scrape: how many (count) and their open quantity (quantity)", ["measure"],
    multiprocess_mode="max",
)

# Ingestion from NATS JetStream (issue 14): service/ingester.py
INGEST_CONSUMED = Counter(
    "inventory_ingest_consumed",
    "Messages fetched from the ingest consumer, by CloudEvent type (inventory.adjust, "
    "inventory.set, inventory.sale, other); a redelivery counts again", ["type"],
)
INGEST_APPLIED = Counter(
    "inventory_ingest_applied",
    "Ingested messages applied (or replayed as applied: a duplicate) and acknowledged, by type",
    ["type"],
)
INGEST_DEAD_LETTERED = Counter(
    "inventory_ingest_dead_lettered",
    "Ingested messages sent to the dead-letter subject and acknowledged, by code (MALFORMED, "
    "UNKNOWN_TYPE, FORBIDDEN, INTERNAL, or the API's userErrors code)", ["code"],
)
INGEST_LAG = Gauge(
    "inventory_ingest_lag_messages",
    "The ingest consumer's messages not yet delivered plus delivered and not yet acknowledged, "
    "as the leading ingester last read them", multiprocess_mode="max",
)
INGEST_LEADER = Gauge(
    "inventory_ingest_leader",
    "1 while this instance holds the ingester's lock (one ingester at a time)",
)
INGEST_KEY_REFUSED = Gauge(
    "inventory_ingest_key_refused",
    "1 while INGEST_API_KEY is unknown or revoked: the leading ingester consumes nothing",
)

# Alerts (issue 15, deploy/prometheus/inventory.rules.yml). Figures read at a scrape are
# "mostrecent" across workers: a worker scraped long ago must not hold a stale value up
HTTP_RESPONSES = Counter(
    "inventory_http_responses",
    "HTTP responses by status class (2xx, 3xx, 4xx, 5xx), the fast path's included; "
    "WebSockets are not counted", ["code"],
)

SLOW_CONSUMERS = Counter(
    "inventory_slow_consumers",
    "Subscribers dropped as SLOW_CONSUMER (more than FEED_QUEUE_SIZE events behind), by "
    "transport: graphql (WebSocket, multipart, graphql-sse), "
    "sse (/skus/{code}/events, /skus/events)",
    ["transport"],
)

HOLDS_OVERDUE = Gauge(
    "inventory_holds_overdue",
    "ACTIVE holds past their expiry, as of the last /metrics scrape: how many (count) and the "
    "oldest one's seconds past expiry (oldest_seconds); expiry keeps both near 0",
    ["measure"], multiprocess_mode="mostrecent",
)

READY = Gauge(
    "inventory_ready",
    "1 while /readyz's check passes (PostgreSQL, migrations, Redis), as of the last /metrics "
    "scrape; per check: database, redis", ["check"], multiprocess_mode="mostrecent",
)

LEDGER_DRIFT = Gauge(
    "inventory_ledger_drift_levels",
    "Levels whose figures differ from their ledger, reservations or incoming stock, as found "
    "by the in-server check of `check` (LEDGER_CHECK_INTERVAL) on the instance that ran it",
    multiprocess_mode="mostrecent",
)

LEDGER_CHECKED = Gauge(
    "inventory_ledger_check_timestamp_seconds",
    "When this instance last finished the in-server ledger check (Unix time)",
    multiprocess_mode="max",
)

# Series that exist (at 0) from the start, so that rate() sees their first increase
for _outcome in ("held", "insufficient", "expired", "committed", "released"):
    RESERVATIONS.labels(_outcome)
for _transport in ("graphql", "sse"):
    SLOW_CONSUMERS.labels(_transport)
for _code in ("2xx", "3xx", "4xx", "5xx"):
    HTTP_RESPONSES.labels(_code)

# Read replicas (issue 16): service/replica_watch.py's measurements, store/read_pool.py's route
READ_REPLICA_LAG = Gauge(
    "inventory_read_replica_lag_seconds",
    "How far the read replica (DATABASE_READ_URL) is behind the primary, as of its last check "
    "(at least this much while it has not caught up with any check; NaN: unreachable)",
    multiprocess_mode="livemax",
)
READ_REPLICA_IN_USE = Gauge(
    "inventory_read_replica_in_use",
    "1 while reads that may be stale go to the read replica; 0 while they go to the primary "
    "(lag past READ_REPLICA_MAX_LAG_MS, the replica unreachable, or none configured)",
    multiprocess_mode="livemin",
)
