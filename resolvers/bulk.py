"""Resolvers of bulkAdjustStock and bulkSetStock: the line count, the key's locations and each
line's argument checks, then one use case of service.bulk (bound by schema.bulk)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from graphql import GraphQLError

from domain.bulk import BulkOutcome, StockLine
from domain.errors import InvalidInput, StockError
from domain.outcome import Outcome
from domain.rules import (
    Limits,
    check_adjustment,
    check_code,
    check_stock_figure,
    check_text,
)
from resolvers.context import Info
from resolvers.mutation import refused
from resolvers.permissions import check_locations
from service import bulk

Checks = Callable[[StockLine, Limits], list[Callable[[], object]]]
# A bulk call counts as one request per this many lines against its caller's rate limit (the
# transport counted the first before reading the body): 1,000 lines are 10 requests.
LINES_PER_REQUEST = 100


def _adjust_checks(line: StockLine, limits: Limits) -> list[Callable[[], object]]:
    assert line.reason is not None
    reason = line.reason
    return [lambda: check_adjustment(line.delta, reason, ["delta"], limits)]


def _set_checks(line: StockLine, limits: Limits) -> list[Callable[[], object]]:
    on_hand, safety, expected = line.on_hand or 0, line.safety_stock, line.expected_version
    return [
        lambda: check_stock_figure(on_hand, ["onHand"], limits),
        lambda: safety is None or check_stock_figure(safety, ["safetyStock"], limits),
        lambda: expected is None or check_stock_figure(expected, ["expectedVersion"], limits),
    ]


def _refusals(lines: Sequence[StockLine], limits: Limits, checks: Checks) -> dict[int, StockError]:
    """Each line's failed argument checks, as the single mutation's; a key repeated within
    the call is INVALID_INPUT on its later lines."""
    found: dict[int, StockError] = {}
    seen: set[str] = set()
    for index, line in enumerate(lines):
        key = line.idempotency_key
        repeated = key is not None and key in seen
        if key is not None:
            seen.add(key)
        refusal = refused(*_line_checks(line, repeated, limits, checks))
        if refusal is not None and refusal.error is not None:
            found[index] = refusal.error
    return found


def _line_checks(
    line: StockLine, repeated: bool, limits: Limits, checks: Checks
) -> list[Callable[[], object]]:
    return [
        lambda: check_code(line.sku, ["sku"]),
        lambda: check_code(line.location, ["location"]),
        *checks(line, limits),
        lambda: check_text(line.reference, ["reference"]),
        lambda: check_text(line.idempotency_key, ["idempotencyKey"]),
        lambda: _unrepeated(repeated),
    ]


def _unrepeated(repeated: bool) -> None:
    if repeated:
        raise InvalidInput("an earlier line of this call has this idempotencyKey",
                           ["idempotencyKey"])


async def _charge(info: Info, lines: Sequence[StockLine]) -> None:
    """RATE_LIMITED (a GraphQL error, nothing applied) when the caller's budget cannot pay for
    the lines past the first LINES_PER_REQUEST."""
    charge = info.context.charge
    units = (len(lines) - 1) // LINES_PER_REQUEST
    if charge is not None and units > 0 and not await charge(units):
        raise GraphQLError(f"a call of {len(lines)} lines counts as {units + 1} requests: "
                           "over the rate limit; retry shortly",
                           extensions={"code": "RATE_LIMITED"})


def _too_many(lines: Sequence[StockLine], limits: Limits) -> BulkOutcome | None:
    if len(lines) <= limits.max_bulk_lines:
        return None
    return BulkOutcome([Outcome() for _ in lines], InvalidInput(
        f"at most {limits.max_bulk_lines} lines per call", ["lines"]), applied=False)


async def _bulk(
    info: Info, lines: Sequence[StockLine], atomic: bool, checks: Checks,
    apply: Callable[..., Awaitable[BulkOutcome]],
) -> BulkOutcome:
    """The line limit, the key's locations, the rate limit's extra units, each line's checks,
    then one use case of service.bulk."""
    limits = info.context.inventory.limits
    if (too_many := _too_many(lines, limits)) is not None:
        return too_many
    check_locations(info, *sorted({line.location for line in lines}))
    await _charge(info, lines)
    return await apply(
        info.context.inventory, lines, atomic=atomic,
        refusals=_refusals(lines, limits, checks),
        idempotency_scope=info.context.idempotency_scope)


async def bulk_adjust_stock(info: Info, lines: Sequence[StockLine], atomic: bool) -> BulkOutcome:
    return await _bulk(info, lines, atomic, _adjust_checks, bulk.adjust_many)


async def bulk_set_stock(info: Info, lines: Sequence[StockLine], atomic: bool) -> BulkOutcome:
    return await _bulk(info, lines, atomic, _set_checks, bulk.set_many)
