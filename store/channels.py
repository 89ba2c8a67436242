"""Sales channels and their locations in sourcing-priority order: the upsert and the reads
(called by service.channels, service.views and store.reservations)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from domain.channels import sourcing
from domain.errors import NotFound, Rejected, StockError
from domain.model import Channel
from store import catalogue_version, lookups, rows

SELECT = """
SELECT c.id, c.code, c.name,
       coalesce(array_agg(cl.location_id ORDER BY cl.position)
                FILTER (WHERE cl.location_id IS NOT NULL), '{}') AS location_ids
FROM channels c LEFT JOIN channel_locations cl ON cl.channel_id = c.id
"""

UPSERT = """
INSERT INTO channels (code, name) VALUES ($1, $2)
ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name
RETURNING id
"""

PLACE = """
INSERT INTO channel_locations (channel_id, location_id, position)
SELECT $1, u.location_id, u.ord - 1 FROM unnest($2::bigint[]) WITH ORDINALITY AS u(location_id, ord)
"""


async def by_codes(conn: asyncpg.Connection, codes: Sequence[str]) -> dict[str, Channel]:
    records = await conn.fetch(
        f"{SELECT} WHERE c.code = ANY($1::text[]) GROUP BY c.id", list(codes)
    )
    return {r["code"]: rows.channel(r) for r in records}


async def by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, Channel]:
    records = await conn.fetch(f"{SELECT} WHERE c.id = ANY($1::bigint[]) GROUP BY c.id", list(ids))
    return {r["id"]: rows.channel(r) for r in records}


async def every(conn: asyncpg.Connection) -> list[Channel]:
    records = await conn.fetch(f"{SELECT} GROUP BY c.id ORDER BY c.code")
    return [rows.channel(r) for r in records]


async def find(conn: asyncpg.Connection, code: str, field: Sequence[str | int]) -> Channel:
    """The channel `code` as this transaction sees it; NotFound naming `field` if none."""
    found = (await by_codes(conn, [code])).get(code)
    if found is None:
        raise NotFound(f"unknown channel {code!r}", field)
    return found


async def upsert(
    conn: asyncpg.Connection, code: str, name: str, locations: Sequence[str]
) -> Channel:
    """Create the channel `code` or replace its name and locations (distinct codes, highest
    priority first); every location must exist. The upsert's row lock orders concurrent
    upserts of one channel."""
    ids = await lookups.ids_by_code(conn, "locations", locations)
    errors: list[StockError] = [
        NotFound(f"unknown location {location!r}", ["locations", index])
        for index, location in enumerate(locations) if location not in ids
    ]
    if errors:
        raise Rejected(errors)
    channel_id = await conn.fetchval(UPSERT, code, name)
    await conn.execute("DELETE FROM channel_locations WHERE channel_id = $1", channel_id)
    await conn.execute(PLACE, channel_id, [ids[location] for location in locations])
    await catalogue_version.bump(conn)
    return (await by_ids(conn, [channel_id]))[channel_id]


@dataclass(frozen=True, slots=True)
class Sourced:
    """Where a hold through a channel may be taken, in priority order."""

    channel_id: int
    location_ids: tuple[int, ...]


async def source(
    conn: asyncpg.Connection, code: str, within: Sequence[str] | None
) -> tuple[Channel, frozenset[int] | None]:
    """The channel `code` (NotFound, field "channel") and the ids of `within` (a
    location-bound key's locations; None: every location)."""
    channel = await find(conn, code, ["channel"])
    ids = await lookups.ids_by_code(conn, "locations", within) if within is not None else None
    return channel, frozenset(ids.values()) if ids is not None else None


def sourced(
    channel: Channel, named: int | None, within: frozenset[int] | None
) -> Sourced:
    return Sourced(channel.id, tuple(sourcing(channel.location_ids, named, within)))
