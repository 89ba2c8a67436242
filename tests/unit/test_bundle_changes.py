"""A bundle's changes for partners (domain/bundle_changes.py): replayed over a round's component
entries against what the sink sent last; and feed/bundle_feed.py's runs that keep their order."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.bundle_changes import Bundle, Figures, Stock, replay
from domain.bundles import Component
from domain.changes import LedgerChange
from domain.model import AvailabilityStatus, StockEvent, StockEventKind, StockLevel
from feed.bundle_feed import chains

IN, LOW, OUT = (AvailabilityStatus.IN_STOCK, AvailabilityStatus.LOW_STOCK,
                AvailabilityStatus.OUT_OF_STOCK)
A, B, PLAIN = 1, 2, 3  # component SKU ids
L1, L2 = 10, 20  # location ids
KIT = Bundle(100, "KIT", 2, (Component(A, "A", 2), Component(B, "B", 1)))
SOLO = Bundle(101, "SOLO", 0, (Component(A, "A", 1),))
AT = datetime(2026, 12, 1, tzinfo=UTC)


def entry(sku_id: int, sequence: int, location: int, on_hand: int, reserved: int,
          on_hand_delta: int = 0, reserved_delta: int = 0) -> LedgerChange:
    """An entry leaving the SKU's level at `location` at (on_hand, reserved)."""
    code = {A: "A", B: "B", PLAIN: "P"}[sku_id]
    level = StockLevel(code, location, on_hand, reserved, 0, sequence, AT)
    event = StockEvent(code, sequence, StockEventKind.RESERVED, location, f"L{location}",
                       on_hand_delta, reserved_delta, level, on_hand, reserved,
                       on_hand - reserved, IN, None, None, None, AT)
    return LedgerChange(sku_id, event, 0, OUT)


def moved(changes: list[LedgerChange]) -> list[tuple[str, str, int, int, int, AvailabilityStatus]]:
    """(bundle, cause id, previous available, available, onHand, status) of every change."""
    return [(m.sku, f"{m.cause_sku}/{m.cause_sequence}", m.previous_available, m.available,
             m.on_hand, m.status) for c in changes for m in c.bundles]


def test_an_entry_that_moves_the_bundle_is_one_change_and_one_that_does_not_is_none() -> None:
    levels = {(A, L1): Stock(10, 2, 0), (B, L1): Stock(9, 0, 0)}
    changes = [entry(A, 5, L1, 10, 1, reserved_delta=1),  # A: 9 available -> 4 kits
               entry(A, 6, L1, 10, 2, reserved_delta=1)]  # A: 8 available -> still 4
    # the round started with A at 10 on hand, 0 reserved: 5 kits, sent last
    out = replay(changes, [KIT], levels, {KIT.id: Figures(5, 0, 5, IN)})
    assert moved(out.changes) == [("KIT", "A/5", 5, 4, 5, IN)]
    assert out.before == {KIT.id: Figures(5, 0, 5, IN)}


def test_components_changed_at_once_move_the_bundle_once() -> None:
    """A bundle hold takes both components in one transaction: one change, caused by the first
    entry of the round; the second finds the figures already sent."""
    levels = {(A, L1): Stock(20, 2, 0), (B, L1): Stock(10, 1, 0)}
    changes = [entry(A, 7, L1, 20, 2, reserved_delta=2), entry(B, 3, L1, 10, 1, reserved_delta=1)]
    out = replay(changes, [KIT], levels, {KIT.id: Figures(10, 0, 10, IN)})
    assert moved(out.changes) == [("KIT", "A/7", 10, 9, 10, IN)]


def test_what_changed_before_the_round_is_replayed_from_before_it() -> None:
    """Both components fell from 10 to 5 before the round: each entry alone, against the other
    component's current level, moves nothing, yet the bundle went from 10 to 5."""
    levels = {(A, L1): Stock(10, 0, 0), (B, L1): Stock(5, 0, 0)}
    changes = [entry(A, 2, L1, 10, 0, on_hand_delta=-10), entry(B, 2, L1, 5, 0, on_hand_delta=-5)]
    out = replay(changes, [KIT], levels, {KIT.id: Figures(10, 0, 10, IN)})
    assert moved(out.changes) == [("KIT", "A/2", 10, 5, 5, IN)]


def test_entries_at_two_locations_are_replayed_one_by_one() -> None:
    levels = {(A, L1): Stock(9, 0, 0), (A, L2): Stock(9, 0, 0)}
    changes = [entry(A, 4, L1, 9, 0, on_hand_delta=-1), entry(A, 5, L2, 9, 0, on_hand_delta=-1)]
    out = replay(changes, [SOLO], levels, {})  # never sent: it starts from before the round
    assert out.before == {SOLO.id: Figures(20, 0, 20, IN)}
    assert moved(out.changes) == [("SOLO", "A/4", 20, 19, 19, IN), ("SOLO", "A/5", 19, 18, 18, IN)]


def test_status_onhand_only_and_a_component_missing_at_a_location() -> None:
    levels = {(A, L1): Stock(4, 4, 0), (B, L1): Stock(3, 0, 0), (A, L2): Stock(50, 0, 0)}
    sent = {KIT.id: Figures(2, 0, 1, LOW)}  # B has no level at L2: no kit there
    changes = [entry(A, 9, L1, 4, 2, reserved_delta=2),  # A: 2 available -> 1 kit, unchanged
               entry(A, 10, L1, 4, 4, reserved_delta=2),  # A: 0 available -> 0 kits
               entry(A, 11, L2, 50, 0, on_hand_delta=40),  # no B at L2: nothing moves
               entry(PLAIN, 1, L1, 5, 0, on_hand_delta=5)]  # in no bundle
    out = replay(changes, [KIT], levels, sent)
    assert moved(out.changes) == [("KIT", "A/10", 1, 0, 2, OUT)]
    assert out.changes[3] is changes[3]  # untouched
    # a commit moves onHand only: a change (MQTT's retained figures) that partners' events skip
    commit = replay([entry(A, 12, L1, 2, 2, on_hand_delta=-2, reserved_delta=-2)], [KIT],
                    {(A, L1): Stock(2, 2, 0), (B, L1): Stock(3, 0, 0)}, {KIT.id: Figures(2, 0, 0, OUT)})
    (only,) = commit.changes[0].bundles
    assert (only.on_hand, only.available, only.moved) == (1, 0, False)
    assert commit.changes[0].availability_changes == [commit.changes[0].availability]


def test_runs_join_the_skus_that_moved_a_common_bundle() -> None:
    levels = {(A, L1): Stock(8, 0, 0), (B, L1): Stock(3, 0, 0)}
    changes = [entry(A, 1, L1, 10, 0, on_hand_delta=10), entry(A, 2, L1, 8, 0, on_hand_delta=-2),
               entry(B, 1, L1, 3, 0, on_hand_delta=-9), entry(PLAIN, 1, L1, 1, 0, on_hand_delta=1)]
    out = replay(changes, [KIT], levels, {}).changes
    assert moved(out) == [("KIT", "A/1", 0, 5, 5, IN), ("KIT", "A/2", 5, 4, 4, IN),
                          ("KIT", "B/1", 4, 3, 3, IN)]
    assert [[(c.event.sku, c.event.sequence) for c in run] for run in chains(out)] == [
        [("A", 1), ("A", 2), ("B", 1)], [("P", 1)]]
    plain = [entry(A, 1, L1, 1, 0), entry(B, 1, L1, 1, 0)]  # no bundle moved: a run per SKU
    assert [len(run) for run in chains(plain)] == [1, 1]
