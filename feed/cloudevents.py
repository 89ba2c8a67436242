"""The one encoding of events for partners: CloudEvents 1.0 in structured JSON, for every sink
(webhooks' fan-out, the NATS and MQTT relay)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from domain.changes import AvailabilityChange
from domain.model import StockEvent

STOCK_TYPE = "inventory.stock."  # + the kind in lower case
AVAILABILITY_TYPE = "inventory.availability.changed"
SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def event_types(kinds: list[str]) -> list[str]:
    """Every CloudEvents type a sink can send, for the ledger kinds `kinds`."""
    return [STOCK_TYPE + kind.lower() for kind in kinds] + [AVAILABILITY_TYPE]


def sku_token(code: str) -> str:
    """The SKU code as one subject or topic token: every byte outside [A-Za-z0-9_-] as %XX."""
    return "".join(chr(b) if b in SAFE else f"%{b:02X}" for b in code.encode())


# The StockEvent fields a partner gets, as a GraphQL query selects them; stock_fields answers
# exactly what the API answers to it (tests/api/test_cloudevent_data.py).
STOCK_SELECTION = """sku sequence kind location { code } onHandDelta reservedDelta
  level { sku location { code } onHand reserved safetyStock available version updatedAt }
  available status reason reservationId reference occurredAt
  incomingDelta incomingId transferId happenedAt"""


def stock_fields(event: StockEvent) -> dict[str, Any]:
    """The event as GraphQL serialises STOCK_SELECTION of it; reservationId and reference are
    included (every partner endpoint and stream is an admin's)."""
    level = event.level
    location = None if event.location is None else {"code": event.location}
    return {
        "sku": event.sku,
        "sequence": event.sequence,
        "kind": event.kind.value,
        "location": location,
        "onHandDelta": event.on_hand_delta,
        "reservedDelta": event.reserved_delta,
        "level": None if level is None else {
            "sku": event.sku, "location": location, "onHand": level.on_hand,
            "reserved": level.reserved, "safetyStock": level.safety_stock,
            "available": level.available, "version": level.version,
            "updatedAt": level.updated_at.isoformat(),
        },
        "available": event.available,
        "status": event.status.value,
        "reason": event.reason.value if event.reason else None,
        "reservationId": event.reservation_id,
        "reference": event.reference,
        "occurredAt": event.occurred_at.isoformat(),
        "incomingDelta": event.incoming_delta,
        "incomingId": event.incoming_id,
        "transferId": event.transfer_id,
        "happenedAt": event.happened_at.isoformat() if event.happened_at else None,
    }


def availability_fields(change: AvailabilityChange) -> dict[str, Any]:
    """The SKU's figures after the change (also MQTT's retained message) and before it."""
    return {
        "sku": change.sku,
        "available": change.available,
        "status": change.status.value,
        "onHand": change.on_hand,
        "reserved": change.reserved,
        "sequence": change.cause_sequence if change.sku == change.cause_sku else 0,
        "updatedAt": change.occurred_at.isoformat(),
        "previousAvailable": change.previous_available,
        "previousStatus": change.previous_status.value,
    }


def stock_id(event: StockEvent) -> str:
    return f"{event.sku}/{event.sequence}"


def availability_id(change: AvailabilityChange) -> str:
    return f"{change.sku}/availability/{change.cause_sku}/{change.cause_sequence}"


def stock_event(event: StockEvent, source: str) -> dict[str, Any]:
    """The CloudEvent of a ledger entry."""
    return _envelope(stock_id(event), STOCK_TYPE + event.kind.value.lower(), source, event.sku,
                     event.sequence, event.occurred_at, stock_fields(event))


def availability_event(change: AvailabilityChange, source: str) -> dict[str, Any]:
    return _envelope(availability_id(change), AVAILABILITY_TYPE, source, change.sku,
                     change.cause_sequence, change.occurred_at, availability_fields(change))


def encode(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document)


def _envelope(event_id: str, kind: str, source: str, subject: str, sequence: int,
              time: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0", "id": event_id, "source": source, "type": kind,
        "subject": subject, "time": _time(time), "datacontenttype": "application/json",
        "sequence": sequence, "data": data,
    }


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
