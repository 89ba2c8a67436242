"""The rules of a transfer's input: its ends, its lines (summed per SKU), a receipt against
what was shipped, transfer ids (used by resolvers, service and store's transfer writers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.errors import InvalidInput, InvalidQuantity, NotFound, Rejected, StockError
from domain.model import TransferLine
from domain.rules import Limits, check_code, check_quantity, check_stock_figure, is_reservation_id


@dataclass(frozen=True, slots=True)
class LineRequest:
    """The input lines of one SKU, summed; `index` is the first input line it came from."""

    sku: str
    quantity: int
    index: int


def check_ends(from_: str, to: str) -> None:
    if from_ == to:
        raise InvalidInput("a transfer goes between two different locations", ["to"])


def refuse(errors: Sequence[StockError]) -> None:
    """Raise every error together (one alone as itself), in input order; nothing if none."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise Rejected(errors)


def merge_transfer_lines(
    lines: Sequence[tuple[str, int]], limits: Limits, *, receipt: bool = False
) -> list[LineRequest]:
    """Lines of the same SKU are summed (as reserveLines does), in the order of their first
    line. A shipment needs a line and positive quantities; a receipt may be empty (nothing
    arrived) and count 0 for a SKU. At most MAX_CART_LINES lines, every fault named."""
    if not lines and not receipt:
        raise InvalidInput("a transfer needs at least one line", ["lines"])
    if len(lines) > limits.max_cart_lines:
        raise InvalidInput(f"at most {limits.max_cart_lines} lines", ["lines"])
    errors: list[StockError] = []
    merged: dict[str, LineRequest] = {}
    for index, (sku, quantity) in enumerate(lines):
        try:
            check_code(sku, ["lines", index, "sku"])
            field: list[str | int] = ["lines", index, "quantity"]
            if receipt:
                check_stock_figure(quantity, field, limits)
            else:
                check_quantity(quantity, field, limits)
            first = merged.get(sku)
            if first is None:
                merged[sku] = LineRequest(sku, quantity, index)
                continue
            total = first.quantity + quantity
            if total > limits.max_quantity:
                raise InvalidQuantity(
                    f"the lines of {sku} add up to more than {limits.max_quantity}",
                    ["lines", first.index, "quantity"],
                )
            merged[sku] = LineRequest(sku, total, first.index)
        except StockError as error:
            errors.append(error)
    refuse(errors)
    return list(merged.values())


def received_per_sku(
    shipped: Sequence[TransferLine], receipt: Sequence[LineRequest] | None
) -> dict[str, int]:
    """What arrived of each shipped SKU: everything when `receipt` is None, else what it
    names (0 for a SKU it leaves out); a SKU not shipped is INVALID_INPUT, more than shipped
    INVALID_QUANTITY."""
    quantities = {line.sku: line.quantity for line in shipped}
    if receipt is None:
        return quantities
    received = dict.fromkeys(quantities, 0)
    errors: list[StockError] = []
    for line in receipt:
        if line.sku not in quantities:
            errors.append(InvalidInput(
                f"{line.sku} is not on this transfer", ["lines", line.index, "sku"]
            ))
        elif line.quantity > quantities[line.sku]:
            errors.append(InvalidQuantity(
                f"only {quantities[line.sku]} of {line.sku} were shipped",
                ["lines", line.index, "quantity"],
            ))
        else:
            received[line.sku] = line.quantity
    refuse(errors)
    return received


def check_transfer_id(value: str, field: Sequence[str | int]) -> str:
    """Transfer ids are UUIDs in canonical form; anything else names no transfer."""
    if not is_reservation_id(value):
        raise NotFound("no transfer has this id", field)
    return value
