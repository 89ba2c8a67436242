"""The catalogue version (migration 0018): moved by every catalogue upsert (store.catalog,
store.bundles, store.channels), read with SKUs' ledger sequences by service.views.

A token is what a plain SKU read shows can only change with: the catalogue version and each
requested SKU's last ledger sequence, read in one statement (one snapshot). Both only grow,
so a token once left is never seen again."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

BUMP = "UPDATE catalogue_version SET version = version + 1"

TOKEN = """
SELECT (SELECT version FROM catalogue_version) AS version,
       coalesce(array_agg(s.code ORDER BY s.code), '{}') AS codes,
       coalesce(array_agg(s.last_sequence ORDER BY s.code), '{}') AS sequences,
       coalesce(bool_or(s.is_bundle), false) AS bundles
FROM skus s WHERE s.code = ANY($1::text[])
"""

Token = tuple[int, tuple[str, ...], tuple[int, ...]]


async def bump(conn: asyncpg.Connection) -> None:
    """In the upsert's transaction, after its writes: the row lock is taken last."""
    await conn.execute(BUMP)


async def token(conn: asyncpg.Connection, codes: Sequence[str]) -> Token | None:
    """None when a code names a bundle: its figures move with its components' sequences."""
    r = await conn.fetchrow(TOKEN, list(codes))
    if r["bundles"]:
        return None
    return int(r["version"]), tuple(r["codes"]), tuple(r["sequences"])
