"""The webhook endpoints' rows: create, read, change, rotate the secret, delete (called by
service/webhooks.py; the delivery reads them in store/webhook_deliveries.py)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.webhooks import WebhookEndpoint
from store.rows import Record

COLUMNS = "id, url, event_types, skus, enabled, disabled_reason, created_at"
# Transaction-level advisory lock taken by every create, so that the endpoint cap holds with
# several instances creating at once (the key is "WEBHOOKS" in ASCII).
CREATE_LOCK = 0x5745_4248_4F4F_4B53
DISABLED_BY_ADMIN = "disabled by an admin"


def endpoint(r: Record) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=r["id"], url=r["url"], event_types=list(r["event_types"]), skus=list(r["skus"]),
        enabled=r["enabled"], disabled_reason=r["disabled_reason"], created_at=r["created_at"],
    )


async def lock_creates(conn: asyncpg.Connection) -> int:
    """Serialises creates until commit; returns how many endpoints exist."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", CREATE_LOCK)
    count: int = await conn.fetchval("SELECT count(*) FROM webhook_endpoints")
    return count


async def none_until_commit(conn: asyncpg.Connection) -> bool:
    """Within a transaction: True if no endpoint exists, and none can be created until it
    ends (it shares the creates' lock): the fan-out may then skip to the ledger's heads."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", CREATE_LOCK)
    found: bool = await conn.fetchval("SELECT NOT EXISTS (SELECT 1 FROM webhook_endpoints)")
    return found


async def create(
    conn: asyncpg.Connection, *, url: str, event_types: Sequence[str], skus: Sequence[str],
    secret: str, created_by: int | None,
) -> WebhookEndpoint:
    record = await conn.fetchrow(
        f"""INSERT INTO webhook_endpoints (url, event_types, skus, secret, created_by)
            VALUES ($1, $2::text[], $3::text[], $4, $5) RETURNING {COLUMNS}""",
        url, list(event_types), list(skus), secret, created_by,
    )
    return endpoint(record)


async def find(conn: asyncpg.Connection | asyncpg.Pool, endpoint_id: int) -> WebhookEndpoint | None:
    record = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1", endpoint_id
    )
    return endpoint(record) if record is not None else None


async def every(conn: asyncpg.Connection | asyncpg.Pool) -> list[WebhookEndpoint]:
    """Oldest first."""
    records = await conn.fetch(f"SELECT {COLUMNS} FROM webhook_endpoints ORDER BY id")
    return [endpoint(r) for r in records]


# Re-enabling (from disabled) makes the endpoint's PENDING deliveries due now, each with the
# retry schedule from its start, in the statement that enables it: what queued meanwhile goes
# at once, not when the schedule had put it (up to hours away). FOR NO KEY UPDATE: the fan-out's
# inserts (their foreign key's KEY SHARE on this row) need not wait.
UPDATE = f"""
WITH old AS (SELECT id, enabled FROM webhook_endpoints WHERE id = $1 FOR NO KEY UPDATE),
changed AS (
    UPDATE webhook_endpoints e SET
        url = coalesce($2, e.url),
        event_types = coalesce($3::text[], e.event_types),
        skus = coalesce($4::text[], e.skus),
        disabled_reason = CASE WHEN $5 THEN NULL
                               WHEN NOT $5 AND e.enabled THEN $6
                               ELSE e.disabled_reason END,
        failing_since = CASE WHEN $5 THEN NULL ELSE e.failing_since END,
        enabled = coalesce($5, e.enabled),
        updated_at = now()
    FROM old WHERE e.id = old.id
    RETURNING e.*, old.enabled AS was_enabled
), due AS (
    UPDATE webhook_deliveries d SET next_attempt_at = now(), round_attempts = 0
    FROM changed WHERE d.endpoint_id = changed.id AND changed.enabled
      AND NOT changed.was_enabled AND d.status = 'PENDING'
)
SELECT {COLUMNS} FROM changed
"""


async def update(
    conn: asyncpg.Connection, endpoint_id: int, *, url: str | None,
    event_types: Sequence[str] | None, skus: Sequence[str] | None, enabled: bool | None,
) -> WebhookEndpoint | None:
    """Only the given values change. Enabling clears the reason and the failure clock, and a
    disabled endpoint's PENDING deliveries are due at once, the schedule from its start;
    disabling an enabled endpoint records that an admin did it (a server's reason stays)."""
    record = await conn.fetchrow(
        UPDATE, endpoint_id, url, None if event_types is None else list(event_types),
        None if skus is None else list(skus), enabled, DISABLED_BY_ADMIN,
    )
    return endpoint(record) if record is not None else None


async def rotate_secret(
    conn: asyncpg.Connection, endpoint_id: int, secret: str, overlap_seconds: float
) -> WebhookEndpoint | None:
    """The current secret becomes the previous one, signing beside the new one until the
    overlap ends."""
    record = await conn.fetchrow(
        f"""UPDATE webhook_endpoints SET
                previous_secret = secret,
                previous_until = now() + make_interval(secs => $3),
                secret = $2,
                updated_at = now()
            WHERE id = $1 RETURNING {COLUMNS}""",
        endpoint_id, secret, float(overlap_seconds),
    )
    return endpoint(record) if record is not None else None


async def delete(conn: asyncpg.Connection, endpoint_id: int) -> WebhookEndpoint | None:
    """Its deliveries go with it (ON DELETE CASCADE)."""
    record = await conn.fetchrow(
        f"DELETE FROM webhook_endpoints WHERE id = $1 RETURNING {COLUMNS}", endpoint_id
    )
    return endpoint(record) if record is not None else None


async def sku_head(conn: asyncpg.Connection, code: str) -> tuple[int, bool] | None:
    """The SKU's latest ledger sequence and whether it is a bundle (which has no ledger), None
    for an unknown SKU."""
    found = await conn.fetchrow("SELECT last_sequence, is_bundle FROM skus WHERE code = $1", code)
    return None if found is None else (found["last_sequence"], found["is_bundle"])
