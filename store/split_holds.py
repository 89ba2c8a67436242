"""allowSplit: one hold spread over several locations, all or nothing, one reservation per
location (called by service.reserving)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.channels import split_hold
from domain.errors import InsufficientStock, InvalidInput
from domain.model import available_quantity
from domain.outcome import Outcome
from store import channels, lookups, reservations

# The candidate levels, locked in (sku, location) order first as carts do; then each planned
# share is held with the guarded UPDATE (which cannot fail on a locked level).
LOCK = """
SELECT location_id, on_hand, reserved, safety_stock FROM stock_levels
WHERE sku_id = $1 AND ($2::bigint[] IS NULL OR location_id = ANY($2::bigint[]))
ORDER BY sku_id, location_id FOR UPDATE
"""


async def reserve_split(
    conn: asyncpg.Connection, sku: str, quantity: int, ttl: int, reference: str | None,
    owner: int | None = None, channel: str | None = None, within: Sequence[str] | None = None,
) -> Outcome:
    """Through `channel`: its locations (within `within`) in priority order; without one:
    every location, most available first (ties: the oldest). Not for a bundle, held whole at
    one location (INVALID_INPUT on allowSplit)."""
    sku_id, is_bundle = await lookups.sku_kind(conn, sku, ["sku"])
    if is_bundle:
        raise InvalidInput(f"{sku} is a bundle, held at one location: leave allowSplit out",
                           ["allowSplit"])
    sourced = None
    if channel is not None:
        found, ids = await channels.source(conn, channel, within)
        sourced = channels.sourced(found, None, ids)
    among = list(sourced.location_ids) if sourced else None
    levels = {
        r["location_id"]: available_quantity(r["on_hand"], r["reserved"], r["safety_stock"])
        for r in await conn.fetch(LOCK, sku_id, among)
    }
    if among is not None:
        order = [(lid, levels[lid]) for lid in among if lid in levels]
    else:
        order = sorted(levels.items(), key=lambda pair: (-pair[1], pair[0]))
    plan = split_hold(order, quantity)
    if plan is None:
        where = f" over the locations of channel {channel}" if channel else " over all locations"
        raise InsufficientStock(f"fewer than {quantity} of {sku} available{where}", ["quantity"])
    outcome = Outcome()
    first = None
    for location_id, take in plan:
        here = channels.Sourced(sourced.channel_id, (location_id,)) if sourced else None
        if not await reservations.hold_and_record(
            conn, outcome, sku_id, location_id, take, ttl, reference, owner, here
        ):
            raise RuntimeError("a locked level lost the stock it was planned to hold")
        first = first or outcome.level
    outcome.level = first
    return outcome
