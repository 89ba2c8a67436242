"""A bundle's reserve, and the writing of holds planned against locked levels (domain.carts),
a bundle hold with its component rows (called by store.reservations and store.carts).

Every candidate level of every SKU involved is locked in one statement in (sku_id,
location_id) order before anything is decided, as carts and group commits lock them; each
hold is then a guarded UPDATE, and the ledger takes the SKU rows in id order last."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from domain.bundles import Component, held_components
from domain.carts import Demand, Level, plan
from domain.model import HeldComponent, StockEventKind, available_quantity
from domain.outcome import Outcome
from store import bundles, channels, ledger, rows
from store.rows import LEVEL_COLUMNS, RESERVATION_COLUMNS

LOCK = """
SELECT sku_id, location_id, on_hand, reserved, safety_stock FROM stock_levels
WHERE sku_id = ANY($1::bigint[]) AND ($2::bigint[] IS NULL OR location_id = ANY($2::bigint[]))
ORDER BY sku_id, location_id FOR UPDATE
"""

INSERT_RESERVATIONS = f"""
INSERT INTO reservations (id, sku_id, location_id, quantity, channel_id, expires_at, reference,
                          owner)
SELECT u.id, u.sku_id, u.location_id, u.quantity, u.channel_id,
       now() + make_interval(secs => $6), $7, $8
FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::int[], $5::bigint[])
     AS u(id, sku_id, location_id, quantity, channel_id)
RETURNING {RESERVATION_COLUMNS}
"""

INSERT_COMPONENTS = """
INSERT INTO reservation_components (reservation_id, sku_id, location_id, quantity)
SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::int[])
"""

HOLD = f"""
UPDATE stock_levels SET reserved = reserved + $3, version = version + 1, updated_at = now()
WHERE sku_id = $1 AND location_id = $2 AND stock_available(on_hand, reserved, safety_stock) >= $3
RETURNING {LEVEL_COLUMNS}
"""


@dataclass(frozen=True, slots=True)
class Hold:
    """A planned hold of `quantity` of `code` at `location_id`; a bundle's `parts` are its
    components as it is defined now (a plain SKU: none)."""

    sku_id: int
    code: str
    location_id: int
    quantity: int
    parts: tuple[Component, ...] = ()
    channel_id: int | None = None

    def held(self) -> list[tuple[int, int, HeldComponent]]:
        """(SKU id, units, component) this hold takes, in SKU-id order ([] if plain)."""
        return [(c.sku_id, units, HeldComponent(c.sku, units))
                for c, units in held_components(self.parts, self.quantity)]


async def lock(
    conn: asyncpg.Connection, sku_ids: Sequence[int], among: Sequence[int] | None = None
) -> dict[Level, int]:
    """Lock the SKUs' levels (at `among` only, if given); their available by (SKU, location)."""
    return {
        (r["sku_id"], r["location_id"]):
            available_quantity(r["on_hand"], r["reserved"], r["safety_stock"])
        for r in await conn.fetch(LOCK, sorted(set(sku_ids)), among)
    }


async def write(
    conn: asyncpg.Connection, holds: Sequence[Hold], ttl: int, reference: str | None,
    owner: int | None,
) -> Outcome:
    """One reservation per hold (in order), a bundle's component rows, then every level change
    in (sku_id, location_id) order with its RESERVED entry. The levels must be locked."""
    ids = [uuid.uuid4() for _ in holds]
    inserted = {r["id"]: r for r in await conn.fetch(
        INSERT_RESERVATIONS, ids, [h.sku_id for h in holds], [h.location_id for h in holds],
        [h.quantity for h in holds], [h.channel_id for h in holds], float(ttl), reference, owner,
    )}
    parts = [(rid, sku_id, h.location_id, units)
             for rid, h in zip(ids, holds, strict=True) for sku_id, units, _ in h.held()]
    if parts:
        await conn.execute(INSERT_COMPONENTS, *map(list, zip(*parts, strict=True)))
    changes = sorted(
        (sku_id, h.location_id, n, units, rid)
        for n, (rid, h) in enumerate(zip(ids, holds, strict=True))
        for sku_id, units in ([(s, u) for s, u, _ in h.held()] or [(h.sku_id, h.quantity)])
    )
    outcome = Outcome()
    for sku_id, location_id, _, units, rid in changes:
        level = await conn.fetchrow(HOLD, sku_id, location_id, units)
        if level is None:
            raise RuntimeError("a locked level lost the stock it was planned to hold")
        outcome.events.append(await ledger.append(
            conn, level, StockEventKind.RESERVED, reserved_delta=units,
            reservation_id=str(rid), reference=reference, actor=owner,
        ))
    outcome.reservations = [
        rows.reservation(inserted[str(rid)], h.code, [c for _, _, c in h.held()])
        for rid, h in zip(ids, holds, strict=True)
    ]
    return outcome


async def reserve_bundle(
    conn: asyncpg.Connection, bundle_id: int, code: str, location_id: int | None,
    quantity: int, ttl: int, reference: str | None, owner: int | None,
    sourced: channels.Sourced | None = None,
) -> Outcome | None:
    """Hold `quantity` bundles, every component at one location: the named one, else the first
    of a channel's that can hold them all, else where the most bundles are available (ties:
    the oldest location). None when no location can: nothing changed."""
    parts = tuple((await bundles.components_of(conn, [bundle_id]))[bundle_id])
    if not parts:  # upsertBundle refuses it; as if nothing were available
        return None
    among = sourced.location_ids if sourced is not None else None
    named = location_id if sourced is None else None
    available = await lock(conn, [p.sku_id for p in parts],
                           [named] if named is not None else among)
    line = Demand(0, parts, quantity, named, among)
    where = plan([line], available)[0]
    if where is None:
        return None
    hold = Hold(bundle_id, code, where, quantity, parts,
                sourced.channel_id if sourced is not None else None)
    outcome = await write(conn, [hold], ttl, reference, owner)
    outcome.level = await bundles.level_at(conn, bundle_id, code, where)
    return outcome

