"""A fetched batch applied as the ingester's key, in order: consecutive adjusts as one bulk adjust,
sets as one bulk set, one location's sales as one recordSales (called by service.ingester)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from domain.access import Principal, Scope
from domain.bulk import StockLine
from domain.bulk_checks import refusals
from domain.errors import StockError
from domain.ingest import FORBIDDEN, Ingested, Kind, Unusable, refusal
from domain.outcome import Outcome
from domain.sales import MAX_SALES, check_sales
from service import bulk, sales
from service.inventory import Inventory

Verdict = Unusable | None  # None: applied (or replayed as applied)
Settled = list[tuple[int, Verdict]]  # (index in the batch, verdict)


@dataclass
class _Run:
    kind: Kind
    location: str  # sales: the run's one location
    items: list[tuple[int, Ingested]]
    keys: set[str]


async def apply(
    inventory: Inventory, principal: Principal, batch: Sequence[Ingested | Unusable],
    *, single: bool = False,
) -> AsyncIterator[Settled]:
    """Yields each run's verdicts once it has committed (first what cannot be applied: the
    undecodable, and what the key may not apply: FORBIDDEN); raises what the database
    raised, leaving the later runs unapplied. `single`: a run per message (a redelivered
    batch, so that a message that keeps failing fails alone)."""
    runs, first = _runs(principal, batch, 1 if single else inventory.limits.max_bulk_lines)
    if first:
        yield first
    for run in runs:
        yield await _apply_run(inventory, principal, run)


def _runs(principal: Principal, batch: Sequence[Ingested | Unusable],
          max_lines: int) -> tuple[list[_Run], Settled]:
    """The batch's decoded messages in runs (a key seen again starts a new run, so it replays
    rather than being refused as a repeat), and the verdicts known without the database."""
    runs: list[_Run] = []
    first: Settled = []
    for index, item in enumerate(batch):
        if isinstance(item, Unusable):
            first.append((index, item))  # judged when decoded
            continue
        denied = _denied(principal, item.location)
        if denied is not None:
            first.append((index, Unusable(FORBIDDEN, denied, item.kind)))
            continue
        last = runs[-1] if runs else None
        limit = min(MAX_SALES, max_lines) if item.kind is Kind.SALE else max_lines
        if (last is None or last.kind is not item.kind or item.key in last.keys
                or len(last.items) >= limit
                or (item.kind is Kind.SALE and last.location != item.location)):
            last = _Run(item.kind, item.location, [], set())
            runs.append(last)
        last.items.append((index, item))
        last.keys.add(item.key)
    return runs, first


def _denied(principal: Principal, location: str) -> str | None:
    if not principal.has(Scope.WRITE):
        return f"API key {principal.name!r} lacks scope {Scope.WRITE.value}"
    if not principal.may_touch(location):
        return f"API key {principal.name!r} may not touch location {location!r}"
    return None


async def _apply_run(inventory: Inventory, principal: Principal, run: _Run) -> Settled:
    indices = [index for index, _ in run.items]
    scope = principal.idempotency_scope
    if run.kind is Kind.SALE:
        made = [item.sale for _, item in run.items if item.sale is not None]
        try:
            check_sales(run.location, made)
        except StockError as error:
            return [(index, refusal(error)) for index in indices]
        outcomes = await sales.record_sales(
            inventory, location=run.location, sales=made, idempotency_scope=scope)
    else:
        lines: list[StockLine] = [item.line for _, item in run.items if item.line is not None]
        use = bulk.adjust_many if run.kind is Kind.ADJUST else bulk.set_many
        result = await use(inventory, lines, atomic=False,
                           refusals=refusals(lines, inventory.limits), idempotency_scope=scope)
        outcomes = result.lines
    return [(index, _verdict(outcome, run.kind))
            for index, outcome in zip(indices, outcomes, strict=True)]


def _verdict(outcome: Outcome, kind: Kind) -> Verdict:
    if outcome.error is None:
        return None
    found = refusal(outcome.error)
    return Unusable(found.code, found.reason, kind)
