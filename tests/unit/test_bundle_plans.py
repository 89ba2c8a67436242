"""The planning of carts and bundle holds (domain.carts) and a bundle's derived level
(domain.bundles.bundle_level), without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.bundles import Component, bundle_level
from domain.carts import Demand, plan
from domain.model import StockLevel

A, B = Component(1, "A", 1), Component(2, "B", 2)
KIT = (A, B)  # 1 x A + 2 x B
L1, L2, L3 = 10, 20, 30  # location ids: L1 the oldest


def plain(sku: Component) -> tuple[Component, ...]:
    return (Component(sku.sku_id, sku.sku, 1),)


def test_a_bundle_goes_where_the_most_kits_are_ties_to_the_oldest() -> None:
    available = {(1, L1): 9, (2, L1): 6, (1, L2): 3, (2, L2): 20, (1, L3): 9}  # 3, 3, 0 kits
    assert plan([Demand(0, KIT, 3)], available) == {0: L1}
    available[2, L2] = 30
    assert plan([Demand(0, KIT, 3)], {**available, (1, L2): 4}) == {0: L2}
    assert plan([Demand(0, KIT, 4)], available) == {0: None}
    # a location where a component has no level holds no kit, however much of the other
    assert plan([Demand(0, KIT, 1, location=L3)], available) == {0: None}


def test_through_a_channel_the_first_location_that_can_hold_it_all() -> None:
    available = {(1, L1): 9, (2, L1): 18, (1, L2): 1, (2, L2): 2}
    assert plan([Demand(0, KIT, 1, among=(L2, L1))], available) == {0: L2}
    assert plan([Demand(0, KIT, 2, among=(L2, L1))], available) == {0: L1}
    assert plan([Demand(0, KIT, 1, among=(L3,))], available) == {0: None}
    assert plan([Demand(0, KIT, 1, among=())], available) == {0: None}


def test_located_demand_is_summed_over_bundle_and_plain_lines_every_contributor_fails() -> None:
    available = {(1, L1): 5, (2, L1): 8}
    fits_alone = [Demand(0, KIT, 2, location=L1), Demand(1, plain(B), 5, location=L1),
                  Demand(2, plain(A), 1, location=L1)]
    assert plan(fits_alone, available) == {0: None, 1: None, 2: L1}  # B: 4 + 5 > 8
    assert plan([fits_alone[0], Demand(1, plain(B), 4, location=L1)], available) == {0: L1, 1: L1}


def test_lines_without_a_location_pick_after_the_located_ones_in_order() -> None:
    available = {(1, L1): 6, (2, L1): 12, (1, L2): 5, (2, L2): 10}  # 6 and 5 kits
    # alone the kits would go to L1; the located line leaves L1 two kits
    lines = [Demand(0, KIT, 3), Demand(1, plain(A), 4, location=L1), Demand(2, KIT, 2)]
    assert plan(lines, available) == {0: L2, 1: L1, 2: L1}
    lines.append(Demand(3, KIT, 3))  # two kits left at L2, none at L1
    assert plan(lines, available)[3] is None


def test_a_bundle_without_components_is_never_held() -> None:
    assert plan([Demand(0, (), 1), Demand(1, (), 1, location=L1)], {(1, L1): 5}) == {
        0: None, 1: None}


def test_the_derived_level_takes_the_minimum_over_the_components() -> None:
    now = datetime.now(UTC)
    levels = {1: StockLevel("A", L1, 9, 2, 1, 7, now - timedelta(hours=1), 4),
              2: StockLevel("B", L1, 11, 0, 3, 5, now, 7)}
    level = bundle_level("KIT", L1, KIT, levels, now - timedelta(days=1))
    # onHand min(9, 5), available min(6, 4), incoming min(4, 3); the components carry the rest
    assert (level.sku, level.location_id, level.on_hand, level.available, level.incoming) == (
        "KIT", L1, 5, 4, 3)
    assert (level.reserved, level.safety_stock, level.version, level.updated_at) == (0, 0, 0, now)
    empty = bundle_level("KIT", L2, KIT, {1: levels[1]}, now)
    assert (empty.on_hand, empty.available, empty.incoming) == (0, 0, 0)


def test_a_big_cart_over_many_locked_levels_plans_every_line() -> None:
    """200 lines, each a bundle of 50 components, over 20 locations (200,000 locked levels).
    A line's pick looks at its own SKU's locations only; it rescanned every level per line,
    1.6-2.2 s of CPU on the event loop while the levels stayed locked (0.2 s now, measured by
    hand: speed is not asserted here)."""
    locations = range(1, 21)
    lines = [Demand(index=i, parts=tuple(Component(i * 50 + c, f"S{i}-{c}", 1) for c in range(50)),
                    quantity=1) for i in range(200)]
    available = {(p.sku_id, loc): 5 for line in lines for p in line.parts for loc in locations}
    assert plan(lines, available) == dict.fromkeys(range(200), 1)  # ties: the oldest location
