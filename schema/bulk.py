"""The GraphQL side of bulkAdjustStock and bulkSetStock: inputs, payloads and the functions
schema.mutation binds to the two fields."""

from __future__ import annotations

from typing import Self

import strawberry

from domain.bulk import BulkOutcome, StockLine
from domain.outcome import Outcome
from resolvers import bulk as resolvers
from resolvers.context import Info
from schema.inputs import AdjustStockInput, SetStockInput
from schema.payloads import AdjustStockPayload, SetStockPayload, UserError
from schema.types import StockLevel

BULK_DESCRIPTION = """\
Up to the server's bulk limit (at least 1,000) lines, passed as variables (the server accepts
bodies large enough for that many lines). atomic: all lines or none (any failing line fails
all, each failing line named in userErrors with field ["input", "lines", "<index>", ...]; a
failed atomic call stores none of its lines' idempotency keys, so a corrected retry applies);
otherwise each line succeeds or fails on its own. A line whose idempotencyKey an earlier call
already used with the same input counts as applied and returns that first result."""
RESULTS = ("One result per input line, in input order (with atomic and a failure: every "
           "line's level null).")


@strawberry.input(description=BULK_DESCRIPTION)
class BulkAdjustStockInput:
    lines: list[AdjustStockInput]
    atomic: bool | None = False


@strawberry.input  # the contract describes the two on BulkAdjustStockInput only
class BulkSetStockInput:
    lines: list[SetStockInput]
    atomic: bool | None = False


def _level(outcome: Outcome) -> StockLevel | None:
    return StockLevel.from_domain(outcome.level) if outcome.level else None


def _line_errors(index: int, outcome: Outcome) -> list[UserError]:
    if outcome.error is None:
        return []
    return [UserError.from_domain(e.at("lines", index)) for e in outcome.error.errors]


def _parts(bulk: BulkOutcome) -> tuple[list[tuple[Outcome, list[UserError]]], list[UserError]]:
    """Each line's outcome with its errors, and every error of the call, in line order."""
    lines = [(o, _line_errors(i, o)) for i, o in enumerate(bulk.lines)]
    call = [UserError.from_domain(e) for e in bulk.error.errors] if bulk.error else []
    return lines, call + [e for _, errors in lines for e in errors]


@strawberry.type
class BulkAdjustStockPayload:
    results: list[AdjustStockPayload] = strawberry.field(description=RESULTS)
    user_errors: list[UserError]

    @classmethod
    def from_outcome(cls, bulk: BulkOutcome) -> Self:
        lines, errors = _parts(bulk)
        return cls(results=[AdjustStockPayload(level=_level(o), user_errors=e)
                            for o, e in lines], user_errors=errors)


@strawberry.type
class BulkSetStockPayload:
    results: list[SetStockPayload]
    user_errors: list[UserError]

    @classmethod
    def from_outcome(cls, bulk: BulkOutcome) -> Self:
        lines, errors = _parts(bulk)
        return cls(results=[SetStockPayload(level=_level(o), user_errors=e)
                            for o, e in lines], user_errors=errors)


async def bulk_adjust_stock(info: Info, input: BulkAdjustStockInput) -> BulkAdjustStockPayload:
    lines = [StockLine(sku=line.sku, location=line.location, delta=line.delta,
                       reason=line.reason, reference=line.reference,
                       idempotency_key=line.idempotency_key) for line in input.lines]
    return BulkAdjustStockPayload.from_outcome(
        await resolvers.bulk_adjust_stock(info, lines, bool(input.atomic)))


async def bulk_set_stock(info: Info, input: BulkSetStockInput) -> BulkSetStockPayload:
    lines = [StockLine(sku=line.sku, location=line.location, on_hand=line.on_hand,
                       safety_stock=line.safety_stock, expected_version=line.expected_version,
                       reference=line.reference, idempotency_key=line.idempotency_key)
             for line in input.lines]
    return BulkSetStockPayload.from_outcome(
        await resolvers.bulk_set_stock(info, lines, bool(input.atomic)))
