"""Webhook deliveries in PostgreSQL: queued by feed/webhook_fanout.py, listed and retried by the
API (service/webhooks.py), pruned by feed/webhook_delivery.py (attempts: webhook_attempts.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from domain.webhooks import DeliveryStatus, EndpointQueue, WebhookDelivery

# In the given order, so that ids (the queue's order) follow sequence order per SKU.
QUEUE = """
INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, sku, sequence, body,
                                traceparent)
SELECT q.endpoint_id, q.event_id, q.event_type, q.sku, q.sequence, q.body, q.traceparent
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bytea[],
            $7::text[])
     WITH ORDINALITY AS q (endpoint_id, event_id, event_type, sku, sequence, body, traceparent,
                           n)
ORDER BY q.n
"""

RETRY_DEAD = """
UPDATE webhook_deliveries SET status = 'PENDING', round_attempts = 0, next_attempt_at = now(),
    leased_until = NULL
WHERE endpoint_id = $1 AND status = 'DEAD'
"""

DELIVERIES = """
SELECT id, endpoint_id, event_id, event_type, sku, sequence, status, attempts, response_status,
       error, next_attempt_at, delivered_at, created_at
FROM webhook_deliveries
WHERE endpoint_id = $1 AND ($2::text IS NULL OR status = $2)
ORDER BY id DESC LIMIT $3
"""

PRUNE = """
DELETE FROM webhook_deliveries WHERE id IN (
    SELECT id FROM webhook_deliveries
    WHERE status <> 'PENDING' AND created_at < now() - $1 * interval '1 day'
    LIMIT $2 FOR UPDATE SKIP LOCKED)
"""

PENDING = """
SELECT count(*) AS pending, min(d.created_at) AS oldest
FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled
WHERE d.status = 'PENDING'
"""

# DELIVERED rows are left out of the counts by the filter, read through the endpoint's index
QUEUE_OF = """
SELECT count(*) FILTER (WHERE status = 'PENDING') AS pending,
       count(*) FILTER (WHERE status = 'DEAD') AS dead,
       min(created_at) FILTER (WHERE status = 'PENDING') AS oldest,
       (SELECT error FROM webhook_deliveries
        WHERE endpoint_id = $1 AND error IS NOT NULL ORDER BY id DESC LIMIT 1) AS last_error
FROM webhook_deliveries WHERE endpoint_id = $1 AND status <> 'DELIVERED'
"""

SKU_ID = "SELECT id FROM skus WHERE code = $1"


@dataclass(frozen=True, slots=True)
class Queued:
    """One delivery to queue: `body` is the CloudEvent as sent, `traceparent` the span that
    committed its event (ops/trace_links.py), if known."""

    endpoint_id: int
    event_id: str
    event_type: str
    sku: str
    sequence: int
    body: bytes
    traceparent: str | None = None


async def queue(conn: asyncpg.Connection, deliveries: Sequence[Queued]) -> None:
    """Queues `deliveries` as PENDING, due now, in the order given."""
    if not deliveries:
        return
    await conn.execute(
        QUEUE, [d.endpoint_id for d in deliveries], [d.event_id for d in deliveries],
        [d.event_type for d in deliveries], [d.sku for d in deliveries],
        [d.sequence for d in deliveries], [d.body for d in deliveries],
        [d.traceparent for d in deliveries])


async def retry_dead(conn: asyncpg.Connection, endpoint_id: int) -> int:
    """Every DEAD delivery of the endpoint is PENDING again, due now, with the schedule from
    its start; their ids keep them in order. Returns how many."""
    return int((await conn.execute(RETRY_DEAD, endpoint_id)).split()[-1])


async def deliveries(conn: asyncpg.Connection, endpoint_id: int, status: DeliveryStatus | None,
                     first: int) -> list[WebhookDelivery]:
    """The endpoint's newest `first` deliveries (of `status`, if given), newest first."""
    found = await conn.fetch(DELIVERIES, endpoint_id, None if status is None else status.value,
                             first)
    return [WebhookDelivery(
        id=r["id"], endpoint_id=r["endpoint_id"], event_id=r["event_id"],
        event_type=r["event_type"], sku=r["sku"], sequence=r["sequence"],
        status=DeliveryStatus(r["status"]), attempts=r["attempts"],
        response_status=r["response_status"], error=r["error"],
        next_attempt_at=r["next_attempt_at"], delivered_at=r["delivered_at"],
        created_at=r["created_at"],
    ) for r in found]


async def prune(conn: asyncpg.Connection, retention_days: int, batch: int) -> int:
    """Deletes up to `batch` DELIVERED or DEAD deliveries older than `retention_days`."""
    return int((await conn.execute(PRUNE, retention_days, batch)).split()[-1])


async def pending(conn: asyncpg.Connection) -> tuple[int, datetime | None]:
    """PENDING deliveries of enabled endpoints, and when the oldest was queued."""
    r = await conn.fetchrow(PENDING)
    return int(r["pending"]), r["oldest"]


async def queue_of(conn: asyncpg.Connection | asyncpg.Pool, endpoint_id: int) -> EndpointQueue:
    r = await conn.fetchrow(QUEUE_OF, endpoint_id)
    return EndpointQueue(pending=int(r["pending"]), dead=int(r["dead"]),
                         oldest_pending_at=r["oldest"], last_error=r["last_error"])


async def sku_id(conn: asyncpg.Connection, code: str) -> int | None:
    found: int | None = await conn.fetchval(SKU_ID, code)
    return found
