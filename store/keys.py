"""API keys: `inv_<prefix>_<secret>`; only the SHA-256 of the secret is stored (called by
service.access and service.keys)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import Any

import asyncpg

from domain.access import ApiKey, Principal, Scope, parse_scopes

COLUMNS = "id, name, prefix, scopes, locations, created_at, revoked_at, rate_limit"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _principal(r: Any) -> Principal:
    locations = frozenset(r["locations"]) if r["locations"] is not None else None
    return Principal(r["id"], r["name"], parse_scopes(list(r["scopes"])), locations,
                     r["rate_limit"])


async def create(
    conn: asyncpg.Connection, name: str, scopes: Sequence[Scope],
    locations: Sequence[str] | None = None, rate_limit: int | None = None,
) -> tuple[str, Principal]:
    """Create a key; returns the token, which is shown once and never stored."""
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    r = await conn.fetchrow(
        f"""INSERT INTO api_keys (name, prefix, secret_hash, scopes, locations, rate_limit)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}""",
        name, prefix, _digest(secret), [s.value for s in scopes],
        list(locations) if locations is not None else None, rate_limit,
    )
    return f"inv_{prefix}_{secret}", _principal(r)


async def authenticate(conn: asyncpg.Connection, token: str) -> Principal | None:
    """The live (not revoked) key the token belongs to, or None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "inv":
        return None
    r = await conn.fetchrow(
        f"SELECT {COLUMNS}, secret_hash FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL",
        parts[1],
    )
    if r is None or not hmac.compare_digest(r["secret_hash"], _digest(parts[2])):
        return None
    return _principal(r)


async def live(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, Principal]:
    """The keys among `ids` that are not revoked, as they are now."""
    records = await conn.fetch(
        f"SELECT {COLUMNS} FROM api_keys WHERE id = ANY($1::bigint[]) AND revoked_at IS NULL",
        list(ids),
    )
    return {r["id"]: _principal(r) for r in records}


async def listing(conn: asyncpg.Connection) -> list[ApiKey]:
    return [
        ApiKey(r["id"], r["name"], r["prefix"], tuple(r["scopes"]),
               tuple(r["locations"]) if r["locations"] is not None else None,
               r["created_at"], r["revoked_at"], r["rate_limit"])
        for r in await conn.fetch(f"SELECT {COLUMNS} FROM api_keys ORDER BY id")
    ]


async def revoke(conn: asyncpg.Connection, key: str) -> bool:
    result: str = await conn.execute(
        """UPDATE api_keys SET revoked_at = now()
           WHERE (id::text = $1 OR prefix = $1) AND revoked_at IS NULL""",
        key,
    )
    return result.endswith(" 1")


async def set_scopes(conn: asyncpg.Connection, key: str, scopes: Sequence[Scope]) -> bool:
    result: str = await conn.execute(
        "UPDATE api_keys SET scopes = $2 WHERE (id::text = $1 OR prefix = $1)",
        key, [s.value for s in scopes],
    )
    return result.endswith(" 1")


async def set_rate_limit(conn: asyncpg.Connection, key: str, rate_limit: int | None) -> bool:
    """A key's own requests/s (0: unlimited; None: back to RATE_LIMIT_PER_KEY)."""
    result: str = await conn.execute(
        "UPDATE api_keys SET rate_limit = $2 WHERE (id::text = $1 OR prefix = $1)",
        key, rate_limit,
    )
    return result.endswith(" 1")
