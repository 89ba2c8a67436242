"""domain.transfers: a shipment's and a receipt's lines, the two ends, transfer ids."""

from __future__ import annotations

import pytest

from domain.errors import InvalidInput, InvalidQuantity, NotFound, Rejected, StockError
from domain.model import TransferLine
from domain.rules import Limits
from domain.transfers import (
    LineRequest,
    check_ends,
    check_transfer_id,
    merge_transfer_lines,
    received_per_sku,
)

LIMITS = Limits(max_quantity=100, max_cart_lines=5)


def faults(error: StockError) -> list[tuple[str, list[str] | None]]:
    return [(e.code, e.field) for e in error.errors]


def test_lines_of_one_sku_are_summed_in_the_order_of_their_first_line() -> None:
    merged = merge_transfer_lines([("B", 2), ("A", 1), ("B", 3)], LIMITS)
    assert merged == [LineRequest("B", 5, 0), LineRequest("A", 1, 1)]


def test_a_shipment_needs_lines_within_the_limits_and_every_fault_is_named() -> None:
    with pytest.raises(InvalidInput) as empty:
        merge_transfer_lines([], LIMITS)
    assert empty.value.field == ["lines"]
    with pytest.raises(InvalidInput):
        merge_transfer_lines([("A", 1)] * 6, LIMITS)
    with pytest.raises(Rejected) as several:
        merge_transfer_lines([("A", 0), ("bad code!", 1), ("C", 101), ("D", 60), ("D", 41)], LIMITS)
    assert faults(several.value) == [
        ("INVALID_QUANTITY", ["lines", "0", "quantity"]),
        ("INVALID_INPUT", ["lines", "1", "sku"]),
        ("INVALID_QUANTITY", ["lines", "2", "quantity"]),
        ("INVALID_QUANTITY", ["lines", "3", "quantity"]),  # the sum, at its first line
    ]


def test_a_receipt_may_be_empty_and_count_zero() -> None:
    assert merge_transfer_lines([], LIMITS, receipt=True) == []
    assert merge_transfer_lines([("A", 0)], LIMITS, receipt=True) == [LineRequest("A", 0, 0)]
    with pytest.raises(InvalidQuantity):
        merge_transfer_lines([("A", -1)], LIMITS, receipt=True)


def test_what_arrived_of_each_shipped_sku() -> None:
    shipped = [TransferLine("A", 4), TransferLine("B", 2)]
    assert received_per_sku(shipped, None) == {"A": 4, "B": 2}
    assert received_per_sku(shipped, []) == {"A": 0, "B": 0}
    assert received_per_sku(shipped, [LineRequest("B", 1, 0)]) == {"A": 0, "B": 1}
    with pytest.raises(Rejected) as wrong:
        received_per_sku(shipped, [LineRequest("C", 1, 0), LineRequest("A", 5, 2)])
    assert faults(wrong.value) == [("INVALID_INPUT", ["lines", "0", "sku"]),
                                   ("INVALID_QUANTITY", ["lines", "2", "quantity"])]


def test_ends_and_ids() -> None:
    check_ends("A", "B")
    with pytest.raises(InvalidInput) as same:
        check_ends("A", "A")
    assert same.value.field == ["to"]
    assert check_transfer_id("0b5a1a3e-51b4-4f0e-9a44-6f3fb2d64c1e", ["transferId"])
    for bad in ("x", "{0b5a1a3e-51b4-4f0e-9a44-6f3fb2d64c1e}", "0b5a1a3e51b44f0e9a446f3fb2d64c1e"):
        with pytest.raises(NotFound):
            check_transfer_id(bad, ["transferId"])
