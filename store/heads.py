"""The ledger heads (each SKU's last sequence): what feed/stream.py starts from and sweeps."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

HEAD = "SELECT last_sequence FROM skus WHERE code = $1"
HEADS = "SELECT code, last_sequence FROM skus WHERE code = ANY($1::text[])"


async def head(conn: asyncpg.Connection, sku: str) -> int | None:
    """The SKU's last sequence; None for an unknown SKU."""
    found: int | None = await conn.fetchval(HEAD, sku)
    return found


async def heads(conn: asyncpg.Connection, skus: Sequence[str]) -> dict[str, int]:
    """The last sequence of each known SKU of `skus`."""
    return {r["code"]: r["last_sequence"] for r in await conn.fetch(HEADS, list(skus))}
