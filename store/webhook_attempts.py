"""Webhook delivery attempts in PostgreSQL: claimed (a lease, FOR UPDATE SKIP LOCKED) and settled
(delivered, retried, DEAD, the endpoint disabled) by feed/webhook_delivery.py."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

# Claims the rows `picked` for $LEASE seconds: one attempt more, each named by its number.
LEASE = """
UPDATE webhook_deliveries d
SET leased_until = now() + $LEASE * interval '1 second', attempts = d.attempts + 1,
    round_attempts = d.round_attempts + 1
FROM picked, webhook_endpoints e
WHERE d.id = picked.id AND e.id = d.endpoint_id
RETURNING d.id, d.endpoint_id, e.url, e.secret,
          CASE WHEN e.previous_until > now() THEN e.previous_secret END AS previous_secret,
          d.event_id, d.sku, d.sequence, d.body, d.attempts, d.round_attempts, d.traceparent
"""

# No attempt of the head's (endpoint, SKU) queue is in flight. Usually the head is the one in
# flight, but retryDeadDeliveries (DEAD rows with lower ids PENDING again) or a replay committed
# after a later event was claimed can put a free row before it; claiming that row too would
# make two attempts of one SKU at once. It scans the queue's PENDING rows, so it is a scalar
# subquery (a probe per head, never planned as an anti join over every PENDING row), evaluated
# only for a due and free head, after the cheaper conditions.
NONE_IN_FLIGHT = """
(SELECT f.id FROM webhook_deliveries f
 WHERE f.endpoint_id = d.endpoint_id AND f.sku = d.sku AND f.status = 'PENDING'
   AND f.leased_until IS NOT NULL AND f.leased_until > now() LIMIT 1) IS NULL
"""

# The head of each (endpoint, SKU) queue of every enabled endpoint with a free slot on this
# instance ($3/$4: attempts in flight per endpoint, $5 slots each), one index probe per queue
# (a loose index scan over webhook_deliveries_pending, per endpoint), however long the queues
# behind a failing endpoint are; a disabled endpoint's backlog is not walked. A head that is
# due, not leased and with none of its queue in flight is claimed, at most the endpoint's free
# slots and $1 in all; the row's own conditions are checked again on the locked row, so two
# instances never claim one attempt.
CLAIM = """
WITH RECURSIVE walked AS (
    SELECT e.id, $5 - coalesce(busy.in_flight, 0) AS free FROM webhook_endpoints e
    LEFT JOIN unnest($3::bigint[], $4::int[]) AS busy (endpoint_id, in_flight)
           ON busy.endpoint_id = e.id
    WHERE e.enabled AND coalesce(busy.in_flight, 0) < $5
), heads AS (
    SELECT q.* FROM walked w CROSS JOIN LATERAL (
        SELECT endpoint_id, sku, id, next_attempt_at, leased_until FROM webhook_deliveries
        WHERE status = 'PENDING' AND endpoint_id = w.id ORDER BY sku, id LIMIT 1) q
    UNION ALL
    SELECT n.* FROM heads h CROSS JOIN LATERAL (
        SELECT endpoint_id, sku, id, next_attempt_at, leased_until FROM webhook_deliveries
        WHERE status = 'PENDING' AND endpoint_id = h.endpoint_id AND sku > h.sku
        ORDER BY sku, id LIMIT 1) n
), ranked AS (
    SELECT d.id, d.endpoint_id,
           row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS n
    FROM heads d
    WHERE d.next_attempt_at <= now() AND (d.leased_until IS NULL OR d.leased_until < now())
      AND """ + NONE_IN_FLIGHT + """
), picked AS (
    -- by their ids (an index probe each, whatever the planner thinks the walk found)
    SELECT d.id FROM webhook_deliveries d
    WHERE d.id = ANY (ARRAY(SELECT r.id FROM ranked r JOIN walked w ON w.id = r.endpoint_id
                            WHERE r.n <= w.free))
      AND d.status = 'PENDING' AND d.next_attempt_at <= now()
      AND (d.leased_until IS NULL OR d.leased_until < now())
    ORDER BY d.next_attempt_at, d.id
    LIMIT $1
    FOR UPDATE OF d SKIP LOCKED
)
""" + LEASE.replace("$LEASE", "$2")

# After a delivery, the next of its queue, if it is due and none of the queue is in flight: the
# same slot goes on with it.
CLAIM_NEXT = """
WITH picked AS (
    SELECT d.id FROM webhook_deliveries d
    JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled
    WHERE d.id = (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 AND sku = $2
                  AND status = 'PENDING' ORDER BY id LIMIT 1)
      AND d.status = 'PENDING' AND d.next_attempt_at <= now()
      AND (d.leased_until IS NULL OR d.leased_until < now()) AND """ + NONE_IN_FLIGHT + """
    FOR UPDATE OF d SKIP LOCKED
)
""" + LEASE.replace("$LEASE", "$3")

# Each settling statement names the attempt it settles: a stale one (its lease ran out and
# another instance attempted it since) changes nothing.
DELIVERED = """
WITH settled AS (
    UPDATE webhook_deliveries SET status = 'DELIVERED', delivered_at = now(),
        response_status = $3, error = NULL, leased_until = NULL
    WHERE id = $1 AND attempts = $2 AND status = 'PENDING'
    RETURNING endpoint_id
)
UPDATE webhook_endpoints e SET failing_since = NULL
FROM settled WHERE e.id = settled.endpoint_id AND e.failing_since IS NOT NULL
RETURNING e.id
"""

FAILED = """
UPDATE webhook_deliveries SET
    status = CASE WHEN $5 THEN 'DEAD' ELSE 'PENDING' END,
    next_attempt_at = CASE WHEN $5 THEN NULL ELSE now() + $6 * interval '1 second' END,
    response_status = $3, error = $4, leased_until = NULL
WHERE id = $1 AND attempts = $2 AND status = 'PENDING'
RETURNING endpoint_id
"""

# Failing since the first failure after the last success; disabled once that is $2 s ago.
# FOR NO KEY UPDATE (no key column changes): FOR UPDATE would wait on the fan-out's inserts
# into webhook_deliveries, whose foreign key holds KEY SHARE on the endpoint's row.
ENDPOINT_FAILED = """
UPDATE webhook_endpoints e SET
    failing_since = coalesce(e.failing_since, now()),
    enabled = e.enabled AND NOT coalesce(e.failing_since < now() - $2 * interval '1 second',
                                         false),
    disabled_reason = CASE WHEN e.enabled AND e.failing_since < now() - $2 * interval '1 second'
                           THEN $3 ELSE e.disabled_reason END,
    updated_at = CASE WHEN e.enabled AND e.failing_since < now() - $2 * interval '1 second'
                      THEN now() ELSE e.updated_at END
FROM (SELECT id, failing_since, enabled FROM webhook_endpoints WHERE id = $1
      FOR NO KEY UPDATE) old
WHERE e.id = old.id
RETURNING old.failing_since AS was_failing_since, old.enabled AS was_enabled, e.enabled
"""

# 410 Gone: the endpoint is disabled at once; the delivery waits, due again when re-enabled,
# with the schedule from its start (the 410 uses none of it), as re-enabling through the API
# sets every PENDING delivery of the endpoint (store/webhook_endpoints.py).
GONE = """
WITH waiting AS (
    UPDATE webhook_deliveries SET response_status = $3, error = $4, leased_until = NULL,
        next_attempt_at = now(), round_attempts = 0
    WHERE id = $1 AND attempts = $2 AND status = 'PENDING'
    RETURNING endpoint_id
)
UPDATE webhook_endpoints e SET enabled = false, disabled_reason = $5, updated_at = now()
FROM waiting WHERE e.id = waiting.endpoint_id AND e.enabled
RETURNING e.id
"""

@dataclass(frozen=True, slots=True)
class Attempt:
    """A claimed delivery: this instance holds it until its lease runs out. `attempts` names
    the attempt (the settling statements check it); `round_attempts` indexes the schedule."""

    id: int
    endpoint_id: int
    url: str
    secret: str
    previous_secret: str | None  # still signing beside `secret` (a rotation's overlap)
    event_id: str
    sku: str
    sequence: int
    body: bytes
    attempts: int
    round_attempts: int
    traceparent: str | None = None  # its event's mutation's span, for the delivery span's link


@dataclass(frozen=True, slots=True)
class EndpointFailure:
    """What a failed attempt did to its endpoint: it started failing now (`first`), or it was
    disabled by this failure (`disabled`)."""

    first: bool
    disabled: bool


async def claim(
    conn: asyncpg.Connection, limit: int, lease: float, busy: dict[int, int], per_endpoint: int
) -> list[Attempt]:
    """Claims up to `limit` due queue heads for `lease` seconds (committed at once: no
    transaction stays open during the HTTP call); `busy` = attempts in flight per endpoint."""
    counts = dict(busy)  # a copy: attempts end (and leave `busy`) while this awaits
    ids = list(counts)
    async with conn.transaction():
        # The walk's row counts are the planner's guesses (a recursive CTE, times a scan of the
        # queue per head): its cost can pass jit_above_cost, and compiling then takes ~1 s
        # for a statement that runs in about a millisecond.
        await conn.execute("SET LOCAL jit = off")
        found = await conn.fetch(CLAIM, limit, lease, ids, [counts[i] for i in ids],
                                 per_endpoint)
    return [_attempt(r) for r in sorted(found, key=lambda r: r["id"])]


async def claim_next(conn: asyncpg.Connection, after: Attempt, lease: float) -> Attempt | None:
    """The next delivery of `after`'s queue (endpoint and SKU) if it is due and free, claimed
    for `lease` seconds."""
    found = await conn.fetchrow(CLAIM_NEXT, after.endpoint_id, after.sku, lease)
    return None if found is None else _attempt(found)


def _attempt(r: asyncpg.Record) -> Attempt:
    return Attempt(
        id=r["id"], endpoint_id=r["endpoint_id"], url=r["url"], secret=r["secret"],
        previous_secret=r["previous_secret"], event_id=r["event_id"], sku=r["sku"],
        sequence=r["sequence"], body=bytes(r["body"]), attempts=r["attempts"],
        round_attempts=r["round_attempts"], traceparent=r["traceparent"],
    )


async def delivered(conn: asyncpg.Connection, attempt: Attempt, response_status: int) -> bool:
    """The attempt got a 2xx; True if its endpoint was failing until now (it recovered)."""
    recovered = await conn.fetchval(DELIVERED, attempt.id, attempt.attempts, response_status)
    return recovered is not None


async def failed(
    conn: asyncpg.Connection, attempt: Attempt, *, response_status: int | None, error: str,
    retry_in: float | None, disable_after: float, reason: str,
) -> EndpointFailure | None:
    """The attempt failed: due again in `retry_in` seconds, or DEAD if None. The endpoint is
    marked failing, and disabled with `reason` once it has failed for `disable_after` seconds
    with no success. None if the attempt was stale (nothing changed)."""
    async with conn.transaction():
        endpoint_id = await conn.fetchval(
            FAILED, attempt.id, attempt.attempts, response_status, error, retry_in is None,
            retry_in or 0.0)
        if endpoint_id is None:
            return None
        r = await conn.fetchrow(ENDPOINT_FAILED, endpoint_id, disable_after, reason)
    if r is None:
        return None
    return EndpointFailure(first=r["was_failing_since"] is None,
                           disabled=r["was_enabled"] and not r["enabled"])


async def gone(conn: asyncpg.Connection, attempt: Attempt, response_status: int, error: str,
               reason: str) -> bool:
    """The endpoint answered 410 Gone: disabled with `reason`, the delivery stays PENDING;
    True if this disabled it."""
    disabled = await conn.fetchval(GONE, attempt.id, attempt.attempts, response_status, error,
                                   reason)
    return disabled is not None
