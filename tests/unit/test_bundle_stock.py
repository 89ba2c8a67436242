"""domain.bundle_stock: a bundle's available, available-to-promise by a date and next restock,
from its components' levels and open incoming, computed per location."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.bundle_stock import (
    BundleStock,
    ComponentLevel,
    Due,
    available,
    next_restock,
    promise,
)
from domain.bundles import Component
from domain.model import StockLevel
from domain.rules import MAX_FIGURE

NOW = datetime(2030, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
A, B = Component(1, "A", 2), Component(2, "B", 1)
# L1: A 5 -> 2, B 9 -> 9: 2; L2: A 8 -> 4, B 1 -> 1: 1; L3: only A (no bundle there)
LEVELS = (ComponentLevel(1, 10, 5, 5), ComponentLevel(2, 10, 9, 9), ComponentLevel(1, 20, 8, 8),
          ComponentLevel(2, 20, 1, 1), ComponentLevel(1, 30, 50, 50))


def stock(*due: Due) -> BundleStock:
    return BundleStock((A, B), LEVELS, due)


def test_available_sums_the_minimum_at_each_location() -> None:
    assert available(stock()) == 3
    assert available(stock(), {20, 30}) == 1
    assert available(BundleStock((A, B), ())) == 0


def test_promise_adds_what_is_due_by_then_where_each_component_has_a_level() -> None:
    s = stock(Due(2, 20, 5, NOW + DAY),  # L2: B 6, A 4: 4
              Due(1, 10, 3, NOW - DAY),  # overdue, still counted: L1 A 8 -> 4, B 9: 4
              Due(2, 30, 99, NOW),  # B has no level at L3: nothing
              Due(1, 20, 10, NOW + 3 * DAY))  # L2: A 18 -> 9, B 6: 6
    assert [promise(s, NOW + n * DAY) for n in (-2, -1, 0, 1, 3)] == [3, 5, 5, 8, 10]
    assert promise(s, NOW + 3 * DAY, {10}) == 4


def test_next_restock_is_when_the_scarce_components_are_back() -> None:
    assert next_restock(stock()) is None
    # A reaches L2 first, but L2 lacks B: the bundle is back when B is
    s = stock(Due(1, 20, 40, NOW + DAY), Due(2, 20, 3, NOW + 2 * DAY),
              Due(2, 10, 1, NOW + 3 * DAY))
    assert next_restock(s) == NOW + 2 * DAY
    assert next_restock(stock(Due(1, 20, 40, NOW + DAY))) is None  # B still lacks at L2
    empty = ((Component(1, "A", 1), Component(2, "B", 1)),
             (ComponentLevel(1, 10, 0, 0), ComponentLevel(2, 10, 0, 0)))
    both = BundleStock(*empty, (Due(1, 10, 1, NOW + DAY), Due(2, 10, 1, NOW + DAY)))
    assert next_restock(both) == NOW + DAY
    apart = BundleStock(*empty, (Due(1, 10, 1, NOW + DAY), Due(2, 10, 1, NOW + 2 * DAY)))
    assert next_restock(apart) == NOW + 2 * DAY


def test_promise_is_capped_as_a_figure() -> None:
    big = BundleStock((Component(1, "A", 1),), (ComponentLevel(1, 10, 0, 0),),
                      (Due(1, 10, MAX_FIGURE, NOW), Due(1, 10, MAX_FIGURE, NOW)))
    assert promise(big, NOW) == MAX_FIGURE


def test_a_bundle_level_has_its_own_available() -> None:
    level = StockLevel(sku="KIT", location_id=1, on_hand=5, reserved=0, safety_stock=0,
                       version=0, updated_at=NOW, bundle_available=3)
    assert (level.on_hand, level.available) == (5, 3)
