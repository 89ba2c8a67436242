"""What the relay sends for one ledger entry (feed/jetstream.py, feed/mqtt.py) and how it names
a broker in the logs (feed/relay.py): no database, no broker."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.changes import LedgerChange
from domain.model import AvailabilityStatus, StockEvent, StockEventKind
from feed.jetstream import StreamSettings, messages
from feed.mqtt import retained
from feed.relay import shown


def change(available: int, before: int, status: AvailabilityStatus) -> LedgerChange:
    event = StockEvent(
        sku="A/b c", sequence=7, kind=StockEventKind.RESERVED, location_id=1, location="W",
        on_hand_delta=0, reserved_delta=1, level=None, sku_on_hand=5, sku_reserved=5 - available,
        available=available, status=status, reason=None, reservation_id="r", reference="x",
        occurred_at=datetime(2026, 12, 1, tzinfo=UTC))
    return LedgerChange(1, event, before, AvailabilityStatus.IN_STOCK)


def test_an_entry_that_moves_availability_gives_two_messages_with_their_ids() -> None:
    sent = messages(change(3, 4, AvailabilityStatus.IN_STOCK), StreamSettings(url="nats://x"))
    assert [(subject, doc["id"], doc["type"]) for subject, doc in sent] == [
        ("inventory.stock.A%2Fb%20c", "A/b c/7", "inventory.stock.reserved"),
        ("inventory.availability.A%2Fb%20c", "A/b c/availability/A/b c/7",
         "inventory.availability.changed"),
    ]


def test_an_entry_that_moves_nothing_gives_the_stock_event_alone() -> None:
    sent = messages(change(4, 4, AvailabilityStatus.IN_STOCK),
                    StreamSettings(url="nats://x", prefix="p"))
    assert [subject for subject, _ in sent] == ["p.stock.A%2Fb%20c"]


def test_the_retained_message_has_exactly_the_figures() -> None:
    moved = change(0, 1, AvailabilityStatus.OUT_OF_STOCK).availability
    assert moved is not None
    assert retained(moved) == {
        "sku": "A/b c", "available": 0, "status": "OUT_OF_STOCK", "onHand": 5, "reserved": 5,
        "sequence": 7, "updatedAt": "2026-12-01T00:00:00+00:00"}


def test_a_password_in_a_broker_url_is_not_logged() -> None:
    assert shown("nats://relay:s3cret@nats.internal:4222") == "nats://relay@nats.internal:4222"
    assert shown("mqtt://host:1883") == "mqtt://host:1883"
