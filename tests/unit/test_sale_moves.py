"""Where a hold a recorded sale uncovers goes (domain.sales.destination): never where it is,
whole or not at all, its channel's order, its key's locations, the most available otherwise."""

from __future__ import annotations

from domain.sales import Held, destination

SOLD, A, B, C = 1, 2, 3, 4


def plain(quantity: int, among: tuple[int, ...] | None = None,
          within: frozenset[int] | None = None) -> Held:
    return Held("h", "SKU-1", SOLD, ((10, "SKU-1", quantity),), None, None, among, within, False)


# (SKU id, location) -> [onHand, reserved, safetyStock]
LEVELS = {(10, SOLD): [9, 9, 0], (10, A): [5, 0, 0], (10, B): [9, 2, 1], (10, C): [3, 0, 0],
          (20, A): [4, 0, 0], (20, B): [1, 0, 0]}


def test_the_most_available_other_location_ties_to_the_oldest() -> None:
    assert destination(plain(3), LEVELS) == B  # 6 free at B, 5 at A, never SOLD (0)
    assert destination(plain(3), {**LEVELS, (10, A): [6, 0, 0]}) == A
    assert destination(plain(7), LEVELS) is None


def test_a_channel_keeps_its_order_and_a_key_its_locations() -> None:
    assert destination(plain(3, among=(C, A, B)), LEVELS) == C
    assert destination(plain(4, among=(C, A)), LEVELS) == A
    assert destination(plain(4, among=(SOLD, C)), LEVELS) is None
    assert destination(plain(3, within=frozenset({A, C})), LEVELS) == A
    assert destination(plain(3, among=(B, A), within=frozenset({A})), LEVELS) == A


def test_a_bundle_hold_goes_where_every_part_fits() -> None:
    kit = Held("k", "KIT", SOLD, ((10, "SKU-1", 2), (20, "SKU-2", 2)), None, None, None, None,
               True)
    assert destination(kit, LEVELS) == A  # B has room for SKU-1 only
    assert destination(kit, {**LEVELS, (20, A): [1, 0, 0]}) is None
