"""domain.bulk.apply: one bulk line on a level in memory, with adjustStock's and setStock's
rules, leaving the level untouched when it fails."""

from __future__ import annotations

import pytest

from domain.bulk import LevelState, StockLine, apply
from domain.errors import InsufficientStock, InvalidQuantity, StockError, VersionConflict
from domain.model import AdjustmentReason
from domain.rules import MAX_FIGURE

RESTOCK, SALE = AdjustmentReason.RESTOCK, AdjustmentReason.SALE


def test_adjust_creates_then_counts_versions() -> None:
    level = LevelState()
    assert apply(level, StockLine("S", "L", delta=5, reason=RESTOCK), 0, 100) == 5
    assert (level.on_hand, level.version, level.exists) == (5, 1, True)
    assert apply(level, StockLine("S", "L", delta=-2, reason=SALE), 5, 100) == -2
    assert (level.on_hand, level.version) == (3, 2)


@pytest.mark.parametrize(("line", "error", "field"), [
    (StockLine("S", "L", delta=-4, reason=SALE), InsufficientStock, ["delta"]),  # 2 held
    (StockLine("S", "L", delta=96, reason=RESTOCK), InvalidQuantity, ["delta"]),  # past 100
    (StockLine("S", "L", on_hand=1), InsufficientStock, ["on_hand"]),
    (StockLine("S", "L", on_hand=9, expected_version=3), VersionConflict, ["expected_version"]),
    (StockLine("S", "L", on_hand=9, expected_version=0), VersionConflict, ["expected_version"]),
])
def test_a_failing_line_changes_nothing(
    line: StockLine, error: type[StockError], field: list[str]
) -> None:
    level = LevelState(on_hand=5, reserved=2, safety_stock=1, version=4, exists=True)
    with pytest.raises(error) as raised:
        apply(level, line, 5, 100)
    assert raised.value.field == field
    assert level == LevelState(on_hand=5, reserved=2, safety_stock=1, version=4, exists=True)


def test_set_keeps_safety_stock_unless_given_and_guards_the_sku_total() -> None:
    level = LevelState(on_hand=5, safety_stock=3, version=1, exists=True)
    assert apply(level, StockLine("S", "L", on_hand=8, expected_version=1), 5, 100) == 3
    assert (level.on_hand, level.safety_stock, level.version) == (8, 3, 2)
    apply(level, StockLine("S", "L", on_hand=8, safety_stock=0), 8, 100)
    assert level.safety_stock == 0
    with pytest.raises(InvalidQuantity):
        apply(level, StockLine("S", "L", delta=1, reason=RESTOCK), MAX_FIGURE, 100)
    fresh = LevelState()
    with pytest.raises(VersionConflict):
        apply(fresh, StockLine("S", "L", on_hand=1, expected_version=2), 0, 100)
    apply(fresh, StockLine("S", "L", on_hand=1, expected_version=0), 0, 100)
    assert (fresh.on_hand, fresh.version, fresh.safety_stock) == (1, 1, 0)


def test_keys_hash_as_the_single_mutations_arguments() -> None:
    line = StockLine("S", "L", delta=2, reason=RESTOCK, reference="r", idempotency_key="k")
    assert line.arguments() == {"sku": "S", "location": "L", "delta": 2, "reason": RESTOCK,
                                "reference": "r"}
