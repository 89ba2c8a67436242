"""Idempotency keys of a bulk call's lines, claimed, read and saved with one statement each,
in the same table and scopes as the single mutations' keys (called by service.bulk)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from domain.outcome import Outcome
from store.idempotency import encode

# In key order, so two calls claiming overlapping keys wait for each other, never in a cycle.
CLAIM_MANY = """
INSERT INTO idempotency_keys (scope, key, request_hash, response)
SELECT $1, u.key, u.digest, 'null' FROM unnest($2::text[], $3::text[]) AS u(key, digest)
ORDER BY u.key
ON CONFLICT (scope, key) DO NOTHING
RETURNING key
"""
FETCH_MANY = """
SELECT key, request_hash, response FROM idempotency_keys WHERE scope = $1 AND key = ANY($2::text[])
"""
SAVE_MANY = """
UPDATE idempotency_keys k SET response = u.response::jsonb
FROM unnest($2::text[], $3::text[]) AS u(key, response)
WHERE k.scope = $1 AND k.key = u.key
"""


async def claim_many(
    conn: asyncpg.Connection, scope: str, keys: Sequence[str], digests: Sequence[str]
) -> set[str]:
    """The keys this transaction now owns; waits while a concurrent owner is in flight."""
    return {r["key"] for r in await conn.fetch(CLAIM_MANY, scope, list(keys), list(digests))}


async def fetch_many(
    conn: asyncpg.Connection, scope: str, keys: Sequence[str]
) -> dict[str, tuple[str, Any]]:
    rows = await conn.fetch(FETCH_MANY, scope, list(keys))
    return {r["key"]: (r["request_hash"], r["response"]) for r in rows}


async def save_many(
    conn: asyncpg.Connection, scope: str, outcomes: dict[str, Outcome]
) -> None:
    if outcomes:
        await conn.execute(SAVE_MANY, scope, list(outcomes),
                           [json.dumps(encode(o)) for o in outcomes.values()])
