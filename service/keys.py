"""API key administration: create, list, revoke, rescope, set a key's rate limit (called by
cli.py `keys`)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.access import ApiKey, Principal, Scope
from store import keys


async def create_key(
    pool: asyncpg.Pool, name: str, scopes: Sequence[Scope],
    locations: Sequence[str] | None = None, rate_limit: int | None = None,
) -> tuple[str, Principal]:
    """A new key bound to `locations` (None: all) with its own requests/s (None: the default);
    returns its token, shown once."""
    if rate_limit is not None and rate_limit < 0:
        raise ValueError("a rate limit is 0 (unlimited) or more requests per second")
    async with pool.acquire() as conn:
        return await keys.create(conn, name, scopes, locations, rate_limit)


async def list_keys(pool: asyncpg.Pool) -> list[ApiKey]:
    async with pool.acquire() as conn:
        return await keys.listing(conn)


async def revoke_key(pool: asyncpg.Pool, key: str) -> bool:
    """Revoke a live key by id or prefix; False if there is none."""
    async with pool.acquire() as conn:
        return await keys.revoke(conn, key)


async def set_scopes(pool: asyncpg.Pool, key: str, scopes: Sequence[Scope]) -> bool:
    """Replace a key's scopes (by id or prefix); False if there is no such key."""
    async with pool.acquire() as conn:
        return await keys.set_scopes(conn, key, scopes)


async def set_rate_limit(pool: asyncpg.Pool, key: str, rate_limit: int | None) -> bool:
    """Give a key (by id or prefix) its own requests/s, 0 for unlimited, None for the default;
    False if there is no such key."""
    if rate_limit is not None and rate_limit < 0:
        raise ValueError("a rate limit is 0 (unlimited) or more requests per second")
    async with pool.acquire() as conn:
        return await keys.set_rate_limit(conn, key, rate_limit)
