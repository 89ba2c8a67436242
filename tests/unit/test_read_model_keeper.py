"""feed/kept_sku.py's Keeper: one kept SKU's figures moved by its events, in sequence only."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from domain.model import AvailabilityStatus, Sku, StockEvent, StockEventKind, StockLevel
from feed.kept_sku import Keeper

AT = datetime(2026, 12, 7, tzinfo=UTC)


def level(location_id: int, on_hand: int, version: int) -> StockLevel:
    return StockLevel(sku="S", location_id=location_id, on_hand=on_hand, reserved=0,
                      safety_stock=0, version=version, updated_at=AT)


def event(sequence: int, location_id: int, on_hand: int, total: int) -> StockEvent:
    return StockEvent(
        sku="S", sequence=sequence, kind=StockEventKind.ADJUSTED, location_id=location_id,
        location=f"L{location_id}", on_hand_delta=1, reserved_delta=0,
        level=level(location_id, on_hand, sequence), sku_on_hand=total, sku_reserved=0,
        available=total, status=AvailabilityStatus.IN_STOCK, reason=None, reservation_id=None,
        reference=None, occurred_at=AT)


def kept(refills: list[str]) -> Keeper:
    keeper = Keeper("S", refills.append)
    keeper.restart()
    keeper.buffer = None
    keeper.sku = Sku(id=1, code="S", name="S", low_stock_threshold=5, on_hand=10, reserved=0,
                     available=10, sequence=3)
    keeper.levels = [level(2, 10, 3)]
    return keeper


def test_the_next_event_moves_the_figures_and_a_new_level_takes_its_place() -> None:
    keeper = kept([])
    keeper.apply(event(4, 1, 5, 15))
    assert keeper.sku is not None
    assert (keeper.sku.sequence, keeper.sku.on_hand, keeper.sku.available) == (4, 15, 15)
    assert [(lv.location_id, lv.on_hand) for lv in keeper.levels] == [(1, 5), (2, 10)]
    keeper.apply(event(5, 2, 11, 16))
    assert [(lv.location_id, lv.on_hand, lv.version) for lv in keeper.levels] == [
        (1, 5, 4), (2, 11, 5)]


def test_an_old_event_changes_nothing_and_a_gap_drops_the_entry() -> None:
    refills: list[str] = []
    keeper = kept(refills)
    before = dataclasses.replace(keeper.sku) if keeper.sku else None
    keeper.apply(event(3, 2, 99, 99))
    assert keeper.sku == before and refills == []
    keeper.apply(event(5, 2, 12, 12))  # 4 is missing
    assert keeper.sku is None and refills == ["S"]


def test_events_during_a_fill_wait_in_the_buffer() -> None:
    keeper = Keeper("S", lambda code: None)
    generation = keeper.restart()
    keeper.apply(event(4, 1, 5, 15))
    assert keeper.buffer is not None and len(keeper.buffer) == 1 and keeper.sku is None
    keeper.lost("resync")
    assert keeper.buffer is None and keeper.generation != generation  # the fill is void
