"""Sales channels: create or update one with its locations in priority order (called by
resolvers.channels)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.outcome import Outcome
from service.inventory import Inventory
from service.recording import Command
from store import channels


async def upsert_channel(
    inventory: Inventory, *, code: str, name: str, locations: Sequence[str]
) -> Outcome:
    """Create the channel `code`, or replace its name and locations (highest priority first)."""

    async def work(conn: asyncpg.Connection) -> Outcome:
        return Outcome(channel=await channels.upsert(conn, code, name, locations))

    return await inventory.mutate(
        work, command=Command.UPSERT_CHANNEL,
        arguments={"code": code, "name": name, "locations": list(locations)},
    )
