"""Bulk adjust and set of stock levels with a constant number of statements per call
(called by service.bulk inside its transaction).

The lines' levels are locked in one statement in (sku, location) order, as carts and group
commit lock them; each line is applied in memory in input order (domain.bulk), so lines on
one level see the lines before them; then ONE UPDATE writes every changed level's final
figures, ONE INSERT creates the new levels, ONE UPDATE hands out the SKUs' sequences (SKU rows
last, in id order, like every writer) and ONE INSERT appends a ledger entry per applied line
with SKU-wide figures read under those locks (as store.hold_batch does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg

from domain.bulk import LevelState, StockLine, apply
from domain.errors import InvalidInput, InvalidQuantity, NotFound, StockError
from domain.model import AvailabilityStatus, StockEvent, StockEventKind, StockLevel
from domain.outcome import Outcome
from domain.rules import MAX_FIGURE
from store import lookups
from store.hold_batch import NEXT_SEQUENCES

LOCK_LEVELS = """
SELECT l.sku_id, l.location_id, l.on_hand, l.reserved, l.safety_stock, l.version, l.incoming
FROM stock_levels l
JOIN unnest($1::bigint[], $2::bigint[]) AS u(sku_id, location_id)
  ON l.sku_id = u.sku_id AND l.location_id = u.location_id
ORDER BY l.sku_id, l.location_id FOR UPDATE OF l
"""
SKU_ON_HAND = """
SELECT sku_id, sum(on_hand)::bigint AS on_hand FROM stock_levels
WHERE sku_id = ANY($1::bigint[]) GROUP BY sku_id
"""
UPDATE_LEVELS = """
UPDATE stock_levels l
SET on_hand = u.on_hand, safety_stock = u.safety, version = u.version, updated_at = now()
FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::int[], $5::int[], $6::int[])
     AS u(sku_id, location_id, on_hand, safety, version, was)
WHERE l.sku_id = u.sku_id AND l.location_id = u.location_id AND l.version = u.was
RETURNING l.updated_at
"""
# A level another transaction created since LOCK_LEVELS is not ours to overwrite: the call
# starts again (store.levels.set_stock loops the same way).
CREATE_LEVELS = """
INSERT INTO stock_levels (sku_id, location_id, on_hand, safety_stock, version)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::int[], $5::int[])
ORDER BY 1, 2
ON CONFLICT (sku_id, location_id) DO NOTHING
RETURNING updated_at
"""
# As store.hold_batch's INSERT_EVENTS: the SKU totals hold all of the call's lines; each entry
# takes back what the SKU's later lines changed.
INSERT_EVENTS = """
INSERT INTO stock_events (
    sku_id, sequence, kind, location_id, on_hand_delta, reserved_delta,
    level_on_hand, level_reserved, level_safety, level_version,
    sku_on_hand, sku_reserved, available, status, reason, reference)
SELECT u.sku_id, u.sequence, u.kind, u.location_id, u.delta, 0, u.on_hand, u.reserved,
       u.safety, u.version, t.on_hand - u.on_hand_later, t.reserved,
       t.available - u.available_later,
       stock_status(t.available - u.available_later, s.low_stock_threshold),
       u.reason, u.reference
FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::int[], $6::int[],
            $7::int[], $8::int[], $9::int[], $10::bigint[], $11::int[], $12::text[],
            $13::text[])
     AS u(sku_id, sequence, kind, location_id, delta, on_hand, reserved, safety, version,
          on_hand_later, available_later, reason, reference)
JOIN skus s ON s.id = u.sku_id
JOIN (SELECT sku_id, sum(on_hand) AS on_hand, sum(reserved) AS reserved,
             sum(stock_available(on_hand, reserved, safety_stock))::int AS available
      FROM stock_levels WHERE sku_id = ANY($14::bigint[]) GROUP BY sku_id) t
  ON t.sku_id = u.sku_id
WHERE t.on_hand - u.on_hand_later <= $15
RETURNING sku_id, sequence, sku_on_hand, sku_reserved, available, status, occurred_at
"""

Key = tuple[int, int]  # (sku_id, location_id)


class LevelCreated(Exception):
    """Another transaction created one of the call's new levels first: run the call again."""


@dataclass(slots=True)
class _Applied:
    index: int
    key: Key
    delta: int
    level: LevelState  # a copy, as this line left it
    on_hand_later: int = 0  # what the SKU's later lines of the call add to its totals
    available_later: int = 0


async def apply_lines(
    conn: asyncpg.Connection, lines: Sequence[StockLine], max_quantity: int
) -> list[Outcome]:
    """One outcome per line, in order; failing lines change nothing. Run it in a savepoint:
    it raises LevelCreated when a concurrent writer created one of its new levels."""
    outcomes = [Outcome() for _ in lines]
    kinds = await lookups.sku_kinds(conn, [line.sku for line in lines])
    locations = await lookups.ids_by_code(conn, "locations", [line.location for line in lines])
    keys: dict[int, Key] = {}
    for index, line in enumerate(lines):
        if (error := _unknown(line, kinds, locations)) is not None:
            outcomes[index].error = error
        else:
            keys[index] = (kinds[line.sku][0], locations[line.location])
    if not keys:
        return outcomes
    wanted = sorted(set(keys.values()))
    states = {(r["sku_id"], r["location_id"]): LevelState(
        r["on_hand"], r["reserved"], r["safety_stock"], r["version"], r["incoming"], True)
        for r in await conn.fetch(LOCK_LEVELS, [k[0] for k in wanted], [k[1] for k in wanted])}
    existed = {key: replace(state) for key, state in states.items()}
    sku_ids = sorted({key[0] for key in wanted})
    totals = {r["sku_id"]: r["on_hand"] for r in await conn.fetch(SKU_ON_HAND, sku_ids)}
    applied: list[_Applied] = []
    for index, key in keys.items():
        level = states.setdefault(key, LevelState())
        try:
            delta = apply(level, lines[index], totals.get(key[0], 0), max_quantity)
        except StockError as error:
            outcomes[index].error = error
            continue
        totals[key[0]] = totals.get(key[0], 0) + delta
        applied.append(_Applied(index, key, delta, replace(level)))
    if applied:
        await _write(conn, lines, states, existed, applied, outcomes)
    return outcomes


def _unknown(line: StockLine, kinds: dict[str, tuple[int, bool]],
             locations: dict[str, int]) -> StockError | None:
    if line.sku not in kinds:
        return NotFound(f"unknown SKU {line.sku!r}", ["sku"])
    if kinds[line.sku][1]:
        return InvalidInput(
            f"{line.sku} is a bundle and holds no stock of its own: change its components "
            "instead", ["sku"])
    if line.location not in locations:
        return NotFound(f"unknown location {line.location!r}", ["location"])
    return None


async def _write(
    conn: asyncpg.Connection, lines: Sequence[StockLine], states: dict[Key, LevelState],
    existed: dict[Key, LevelState], applied: list[_Applied], outcomes: list[Outcome],
) -> None:
    touched = sorted({a.key for a in applied})
    changed = [k for k in touched if k in existed]
    created = [k for k in touched if k not in existed]
    stamps = []
    if changed:
        stamps = await conn.fetch(
            UPDATE_LEVELS, [k[0] for k in changed], [k[1] for k in changed],
            [states[k].on_hand for k in changed], [states[k].safety_stock for k in changed],
            [states[k].version for k in changed], [existed[k].version for k in changed])
        if len(stamps) != len(changed):
            raise RuntimeError("a locked level changed under its lock")
    if created:
        made = await conn.fetch(
            CREATE_LEVELS, [k[0] for k in created], [k[1] for k in created],
            [states[k].on_hand for k in created], [states[k].safety_stock for k in created],
            [states[k].version for k in created])
        if len(made) != len(created):
            raise LevelCreated()
        stamps += made
    updated_at = stamps[0]["updated_at"]  # now(): one value for the whole transaction
    by_sku: dict[int, list[_Applied]] = {}
    for a in applied:
        by_sku.setdefault(a.key[0], []).append(a)
    for sku_lines in by_sku.values():
        # what each line leaves for the SKU's later lines to change, on hand and available
        running = {a.key: existed.get(a.key, LevelState()).available for a in sku_lines}
        total_delta = sum(a.delta for a in sku_lines)
        total_gain = sum(states[k].available - running[k] for k in running)
        done, gained = 0, 0
        for a in sku_lines:
            done += a.delta
            gained += a.level.available - running[a.key]
            running[a.key] = a.level.available
            a.on_hand_later = total_delta - done
            a.available_later = total_gain - gained
    await _append(conn, lines, by_sku, updated_at, outcomes)


async def _append(
    conn: asyncpg.Connection, lines: Sequence[StockLine], by_sku: dict[int, list[_Applied]],
    updated_at: datetime, outcomes: list[Outcome],
) -> None:
    skus = sorted(by_sku)
    heads = {r["id"]: r for r in await conn.fetch(
        NEXT_SEQUENCES, skus, [len(by_sku[s]) for s in skus])}
    flat = [a for s in skus for a in by_sku[s]]
    sequences: list[int] = []
    for s in skus:
        first = heads[s]["last_sequence"] - len(by_sku[s]) + 1
        sequences += range(first, first + len(by_sku[s]))
    kinds = [StockEventKind.SET if lines[a.index].is_set else StockEventKind.ADJUSTED
             for a in flat]
    reasons = [lines[a.index].reason for a in flat]
    entries = await conn.fetch(
        INSERT_EVENTS, [a.key[0] for a in flat], sequences, [k.value for k in kinds],
        [a.key[1] for a in flat], [a.delta for a in flat], [a.level.on_hand for a in flat],
        [a.level.reserved for a in flat], [a.level.safety_stock for a in flat],
        [a.level.version for a in flat], [a.on_hand_later for a in flat],
        [a.available_later for a in flat], [r.value if r else None for r in reasons],
        [lines[a.index].reference for a in flat], skus, MAX_FIGURE)
    if len(entries) != len(flat):
        raise InvalidQuantity(f"a SKU's total on hand would exceed {MAX_FIGURE}")
    found = {(r["sku_id"], r["sequence"]): r for r in entries}
    for a, sequence, kind, reason in zip(flat, sequences, kinds, reasons, strict=True):
        line, entry = lines[a.index], found[a.key[0], sequence]
        level = StockLevel(line.sku, a.key[1], a.level.on_hand, a.level.reserved,
                           a.level.safety_stock, a.level.version, updated_at, a.level.incoming)
        outcomes[a.index].level = level
        outcomes[a.index].events = [StockEvent(
            line.sku, sequence, kind, a.key[1], line.location, a.delta, 0, level,
            entry["sku_on_hand"], entry["sku_reserved"], entry["available"],
            AvailabilityStatus(entry["status"]), reason, None, line.reference,
            entry["occurred_at"])]
