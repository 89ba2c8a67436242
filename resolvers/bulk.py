"""Resolvers of bulkAdjustStock and bulkSetStock: the line count, the key's locations and each
line's argument checks, then one use case of service.bulk (bound by schema.bulk)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from graphql import GraphQLError

from domain.bulk import BulkOutcome, StockLine
from domain.bulk_checks import refusals
from domain.errors import InvalidInput
from domain.outcome import Outcome
from domain.rules import Limits
from resolvers.context import Info
from resolvers.permissions import check_locations
from service import bulk

# A bulk call counts as one request per this many lines against its caller's rate limit (the
# transport counted the first before reading the body): 1,000 lines are 10 requests.
LINES_PER_REQUEST = 100


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
    info: Info, lines: Sequence[StockLine], atomic: bool,
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
        refusals=refusals(lines, limits),
        idempotency_scope=info.context.idempotency_scope)


async def bulk_adjust_stock(info: Info, lines: Sequence[StockLine], atomic: bool) -> BulkOutcome:
    return await _bulk(info, lines, atomic, bulk.adjust_many)


async def bulk_set_stock(info: Info, lines: Sequence[StockLine], atomic: bool) -> BulkOutcome:
    return await _bulk(info, lines, atomic, bulk.set_many)
