"""The argument checks of one bulk stock line, as the single adjustStock's and setStock's (used by
resolvers.bulk for bulkAdjustStock/bulkSetStock and service.ingesting for ingested messages)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from domain.bulk import StockLine
from domain.errors import InvalidInput, StockError
from domain.rules import (
    Limits,
    check_adjustment,
    check_all,
    check_code,
    check_stock_figure,
    check_text,
)

Check = Callable[[], object]
Checks = Callable[[StockLine, Limits], list[Check]]


def adjust_checks(line: StockLine, limits: Limits) -> list[Check]:
    assert line.reason is not None
    reason = line.reason
    return [lambda: check_adjustment(line.delta, reason, ["delta"], limits)]


def set_checks(line: StockLine, limits: Limits) -> list[Check]:
    on_hand, safety, expected = line.on_hand or 0, line.safety_stock, line.expected_version
    return [
        lambda: check_stock_figure(on_hand, ["onHand"], limits),
        lambda: safety is None or check_stock_figure(safety, ["safetyStock"], limits),
        lambda: expected is None or check_stock_figure(expected, ["expectedVersion"], limits),
    ]


def line_checks(line: StockLine, limits: Limits, repeated: bool = False) -> list[Check]:
    """Every check of `line` (fields named as in GraphQL's line input); `repeated`: an earlier
    line of the same call has its idempotency key."""
    checks = set_checks if line.is_set else adjust_checks
    return [
        lambda: check_code(line.sku, ["sku"]),
        lambda: check_code(line.location, ["location"]),
        *checks(line, limits),
        lambda: check_text(line.reference, ["reference"]),
        lambda: check_text(line.idempotency_key, ["idempotencyKey"]),
        lambda: _unrepeated(repeated),
    ]


def refusals(lines: Sequence[StockLine], limits: Limits) -> dict[int, StockError]:
    """Each line's failed argument checks, by index; a key repeated within the call is
    INVALID_INPUT on its later lines."""
    found: dict[int, StockError] = {}
    seen: set[str] = set()
    for index, line in enumerate(lines):
        key = line.idempotency_key
        repeated = key is not None and key in seen
        if key is not None:
            seen.add(key)
        try:
            check_all(*line_checks(line, limits, repeated))
        except StockError as error:
            found[index] = error
    return found


def _unrepeated(repeated: bool) -> None:
    if repeated:
        raise InvalidInput("an earlier line of this call has this idempotencyKey",
                           ["idempotencyKey"])
