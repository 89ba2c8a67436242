"""The rules a command's values must meet: codes, texts, quantities, figures, hold times, carts,
reservation ids; each check names the field at fault as its caller does (resolvers, service/)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from domain.errors import InvalidInput, InvalidQuantity, Rejected, StockError
from domain.model import AdjustmentReason

CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
MAX_NAME_LENGTH = 200
MAX_TEXT_LENGTH = 200
# GraphQL's Int and the ledger's integer columns: no figure the API reports may exceed it.
MAX_FIGURE = 2**31 - 1
# Text the database and JSON can carry: no NUL, no lone surrogate (UTF-16 halves).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# A reservation id as the server writes it: hyphenated, 36 characters, either case.
_RESERVATION_ID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
INCREASING_REASONS = frozenset({AdjustmentReason.RESTOCK, AdjustmentReason.RETURN})
DECREASING_REASONS = frozenset({AdjustmentReason.SALE, AdjustmentReason.DAMAGE})


@dataclass(frozen=True, slots=True)
class Limits:
    max_quantity: int = 1_000_000
    default_ttl_seconds: int = 15 * 60
    max_ttl_seconds: int = 24 * 60 * 60
    max_cart_lines: int = 200
    max_bulk_lines: int = 1000


def check_code(value: str, field: Sequence[str | int]) -> str:
    if not CODE_PATTERN.fullmatch(value):
        raise InvalidInput(
            "codes are 1-64 characters: letters, digits and . _ : / - (not first)", field
        )
    return value


def text_fault(value: str, max_length: int = MAX_TEXT_LENGTH) -> str | None:
    """The one text rule, for every string argument (mutations, queries, cursors, feeds):
    what is wrong with `value`, or None."""
    if len(value) > max_length:
        return f"at most {max_length} characters"
    if _UNSTORABLE.search(value):
        return "must not contain NUL characters or lone surrogates"
    return None


def check_text(value: str | None, field: Sequence[str | int], *, required: bool = False) -> None:
    if value is None:
        return
    if required and not value.strip():
        raise InvalidInput("must not be blank", field)
    fault = text_fault(value, MAX_NAME_LENGTH if required else MAX_TEXT_LENGTH)
    if fault is not None:
        raise InvalidInput(fault, field)


def check_quantity(quantity: int, field: Sequence[str | int], limits: Limits) -> int:
    if quantity <= 0:
        raise InvalidQuantity("quantity must be positive", field)
    if quantity > limits.max_quantity:
        raise InvalidQuantity(f"quantity must be at most {limits.max_quantity}", field)
    return quantity


def check_stock_figure(value: int, field: Sequence[str | int], limits: Limits) -> int:
    if value < 0:
        raise InvalidQuantity("must not be negative", field)
    if value > limits.max_quantity:
        raise InvalidQuantity(f"must be at most {limits.max_quantity}", field)
    return value


def check_adjustment(
    delta: int, reason: AdjustmentReason, field: Sequence[str | int], limits: Limits
) -> int:
    if delta == 0:
        raise InvalidQuantity("delta must not be 0", field)
    if abs(delta) > limits.max_quantity:
        raise InvalidQuantity(f"delta must be within ±{limits.max_quantity}", field)
    if reason in INCREASING_REASONS and delta < 0:
        raise InvalidQuantity(f"{reason.value} needs a positive delta", field)
    if reason in DECREASING_REASONS and delta > 0:
        raise InvalidQuantity(f"{reason.value} needs a negative delta", field)
    return delta


def hold_seconds(ttl_seconds: int | None, field: Sequence[str | int], limits: Limits) -> int:
    """The hold time to apply: the default when absent, capped at the configured maximum."""
    if ttl_seconds is None:
        return limits.default_ttl_seconds
    if ttl_seconds <= 0:
        raise InvalidInput(f"{field[-1]} must be positive", field)
    return min(ttl_seconds, limits.max_ttl_seconds)


@dataclass(frozen=True, slots=True)
class CartLine:
    """Lines of one (SKU, location) summed; `index` is the first input line it came from."""

    sku: str
    location: str | None
    quantity: int
    index: int


def merge_lines(
    lines: Sequence[tuple[str, str | None, int]], limits: Limits
) -> list[CartLine]:
    if not lines:
        raise InvalidInput("a cart needs at least one line", ["lines"])
    if len(lines) > limits.max_cart_lines:
        raise InvalidInput(f"a cart holds at most {limits.max_cart_lines} lines", ["lines"])
    merged: dict[tuple[str, str | None], CartLine] = {}
    for index, (sku, location, quantity) in enumerate(lines):
        check_code(sku, ["lines", index, "sku"])
        if location is not None:
            check_code(location, ["lines", index, "location"])
        check_quantity(quantity, ["lines", index, "quantity"], limits)
        key = (sku, location)
        first = merged.get(key)
        total = quantity + (first.quantity if first else 0)
        line_index = first.index if first else index
        check_quantity(total, ["lines", line_index, "quantity"], limits)
        merged[key] = CartLine(sku, location, total, line_index)
    return sorted(merged.values(), key=lambda line: line.index)


def is_reservation_id(value: str) -> bool:
    """Only the canonical form: `{...}`, `urn:uuid:` or unhyphenated spellings are not ids."""
    return _RESERVATION_ID.fullmatch(value) is not None


def check_reservation_id(value: str, field: Sequence[str | int]) -> str:
    if not is_reservation_id(value):
        raise InvalidInput("not a reservation id", field)
    return value


def check_all(*checks: Callable[[], object]) -> None:
    """Run every check and raise all their failures together."""
    errors: list[StockError] = []
    for check in checks:
        try:
            check()
        except StockError as error:
            errors.extend(error.errors)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise Rejected(errors)


def check_incoming_id(value: str, field: Sequence[str | int]) -> str:
    """Incoming ids are UUIDs in canonical form, as reservation ids are."""
    if not is_reservation_id(value):
        raise InvalidInput("not an incoming id", field)
    return value
