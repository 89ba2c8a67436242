"""A whole cart held, or none of it: plain and bundle lines planned together (domain.carts)
against the locked levels of every SKU involved (called by service.reserving)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.bundles import Component
from domain.carts import Demand, plan
from domain.errors import InsufficientStock, NotFound, Rejected, StockError
from domain.outcome import Outcome
from domain.rules import CartLine
from store import bundle_holds, bundles, channels, lookups
from store.bundle_holds import Hold


async def reserve_lines(
    conn: asyncpg.Connection, lines: Sequence[CartLine], ttl: int, reference: str | None,
    owner: int | None = None, channel: str | None = None, within: Sequence[str] | None = None,
) -> Outcome:
    """`lines` as domain.rules.merge_lines gives them (one per SKU and location, in input
    order): one reservation per line, in that order; a bundle line's holds its components.
    Every line that cannot be held is named; then nothing is."""
    kinds = await lookups.sku_kinds(conn, [line.sku for line in lines])
    location_ids = await lookups.ids_by_code(
        conn, "locations", [line.location for line in lines if line.location]
    )
    errors: list[StockError] = []
    for line in lines:
        if line.sku not in kinds:
            errors.append(NotFound(f"unknown SKU {line.sku!r}", ["lines", line.index, "sku"]))
        elif line.location and line.location not in location_ids:
            errors.append(NotFound(f"unknown location {line.location!r}",
                                   ["lines", line.index, "location"]))
    sourcing: dict[int, channels.Sourced] = {}
    if channel is not None and not errors:
        found, ids = await channels.source(conn, channel, within)
        for line in lines:
            try:
                sourcing[line.index] = channels.sourced(
                    found, location_ids.get(line.location or ""), ids)
            except StockError as error:
                errors.append(error.at("lines", line.index))
    if errors:
        raise Rejected(errors)
    bundle_ids = [kinds[line.sku][0] for line in lines if kinds[line.sku][1]]
    made_of = await bundles.components_of(conn, bundle_ids) if bundle_ids else {}

    def parts(line: CartLine) -> tuple[Component, ...]:
        sku_id, is_bundle = kinds[line.sku]
        return tuple(made_of[sku_id]) if is_bundle else (Component(sku_id, line.sku, 1),)

    demands = []
    for line in lines:
        named = location_ids[line.location] if line.location else None
        sourced = sourcing.get(line.index)
        among = sourced.location_ids if sourced is not None and named is None else None
        demands.append(Demand(line.index, parts(line), line.quantity, named, among))
    # Every level of every SKU involved, locked in one fixed order: carts never deadlock.
    available = await bundle_holds.lock(conn, [p.sku_id for d in demands for p in d.parts])
    chosen = plan(demands, available)
    short = [InsufficientStock(f"fewer than {line.quantity} of {line.sku} available",
                               ["lines", line.index, "quantity"])
             for line in lines if chosen[line.index] is None]
    if short:
        raise Rejected(short)
    holds = []
    for line, demand in zip(lines, demands, strict=True):
        where = chosen[line.index]
        assert where is not None
        sourced = sourcing.get(line.index)
        holds.append(Hold(
            kinds[line.sku][0], line.sku, where, line.quantity,
            demand.parts if kinds[line.sku][1] else (),
            sourced.channel_id if sourced is not None else None))
    return await bundle_holds.write(conn, holds, ttl, reference, owner)
