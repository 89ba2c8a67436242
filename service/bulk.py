"""bulkAdjustStock and bulkSetStock: many lines in one transaction, each with the single
mutation's rules and idempotency key, all or nothing with `atomic` (called by resolvers.bulk)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.bulk import BulkOutcome, StockLine
from domain.errors import IdempotencyKeyReused, StockError
from domain.outcome import Outcome
from service.inventory import Inventory
from service.recording import Command, record
from store import bulk_keys, idempotency
from store.bulk_levels import LevelCreated, apply_lines


class _Refused(Exception):
    """An atomic call with a failing line: raised to roll back everything, keys included."""

    def __init__(self, outcomes: list[Outcome]) -> None:
        self.outcomes = outcomes


async def adjust_many(
    inventory: Inventory, lines: Sequence[StockLine], *, atomic: bool,
    refusals: dict[int, StockError], idempotency_scope: str = "-",
) -> BulkOutcome:
    """Adjust many levels, each line as adjustStock would (its keys in adjustStock's scope)."""
    return await _apply(inventory, Command.ADJUST, lines, atomic, refusals, idempotency_scope)


async def set_many(
    inventory: Inventory, lines: Sequence[StockLine], *, atomic: bool,
    refusals: dict[int, StockError], idempotency_scope: str = "-",
) -> BulkOutcome:
    """Set many levels, each line as setStock would (its keys in setStock's scope)."""
    return await _apply(inventory, Command.SET_STOCK, lines, atomic, refusals, idempotency_scope)


async def _apply(
    inventory: Inventory, command: Command, lines: Sequence[StockLine], atomic: bool,
    refusals: dict[int, StockError], idempotency_scope: str,
) -> BulkOutcome:
    """Apply every line not in `refusals` (the argument checks' failures, by index); with
    `atomic`, any failing line means nothing is applied and no key is stored (the others
    still run, then roll back, so every failing line is named)."""
    scope = f"{idempotency_scope}:{command.value}"
    async with inventory.pool.acquire() as conn:
        while True:
            try:
                async with conn.transaction():
                    outcomes = await _run(conn, inventory, lines, refusals, scope, atomic)
                break
            except LevelCreated:
                continue  # a concurrent writer made one of our new levels: lock it this time
            except _Refused as refused:
                return _refused(refused.outcomes)
    events = [event for outcome in outcomes for event in outcome.events]
    for outcome in outcomes:
        record(command, outcome)
    if events:
        await inventory.publish_committed(events)
    return BulkOutcome(outcomes)


def _refused(outcomes: list[Outcome]) -> BulkOutcome:
    return BulkOutcome([Outcome(error=o.error) for o in outcomes], applied=False)


async def _run(
    conn: asyncpg.Connection, inventory: Inventory, lines: Sequence[StockLine],
    refusals: dict[int, StockError], scope: str, atomic: bool,
) -> list[Outcome]:
    outcomes: list[Outcome | None] = [
        Outcome(error=refusals[i]) if i in refusals else None for i in range(len(lines))]
    keyed = {i: line for i, line in enumerate(lines)
             if i not in refusals and line.idempotency_key is not None}
    digests = {i: idempotency.request_hash(line.arguments()) for i, line in keyed.items()}
    claimed = await bulk_keys.claim_many(
        conn, scope, [line.idempotency_key or "" for line in keyed.values()],
        list(digests.values()))
    replays = {i: line.idempotency_key or "" for i, line in keyed.items()
               if line.idempotency_key not in claimed}
    failed = bool(refusals)
    if replays:
        stored = await bulk_keys.fetch_many(conn, scope, list(replays.values()))
        for i, key in replays.items():
            digest, response = stored[key]
            if digest != digests[i]:
                failed = True
                outcomes[i] = Outcome(error=IdempotencyKeyReused(
                    "this idempotency_key was used with a different input", ["idempotency_key"]))
            else:
                outcomes[i] = idempotency.decode(response)
    fresh = [i for i, outcome in enumerate(outcomes) if outcome is None]
    if fresh:
        try:
            async with conn.transaction():  # a savepoint: a failure leaves nothing behind
                applied = await apply_lines(
                    conn, [lines[i] for i in fresh], inventory.limits.max_quantity)
        except StockError as error:  # the whole set refused (a SKU total past Int)
            applied = [Outcome(error=error) for _ in fresh]
        for i, outcome in zip(fresh, applied, strict=True):
            outcomes[i] = outcome
            failed = failed or outcome.error is not None
    done = [outcome or Outcome() for outcome in outcomes]
    if atomic and failed:
        raise _Refused(done)
    await bulk_keys.save_many(conn, scope, {
        line.idempotency_key or "": done[i] for i, line in keyed.items() if i not in replays})
    return done
