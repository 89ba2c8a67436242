"""Stock events as the backbone carries them between instances (used by feed.outbox and
feed.stream); what clients see is built by schema/ and web/sse_format.py.

While tracing is on an event also carries its origin's `traceparent` (ops/trace_links.py),
which a receiving instance adopts; one without it (tracing off, an older instance) decodes the
same."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from domain.model import (
    AdjustmentReason,
    AvailabilityStatus,
    StockEvent,
    StockEventKind,
    StockLevel,
)
from ops import trace_links


def encode(event: StockEvent) -> str:
    level = event.level
    wire: dict[str, Any] = {
        "sku": event.sku,
        "sequence": event.sequence,
        "kind": event.kind.value,
        "location_id": event.location_id,
        "location": event.location,
        "on_hand_delta": event.on_hand_delta,
        "reserved_delta": event.reserved_delta,
        "level": None if level is None else [
            level.on_hand, level.reserved, level.safety_stock, level.version,
            level.updated_at.isoformat(), level.incoming,
        ],
        "sku_on_hand": event.sku_on_hand,
        "sku_reserved": event.sku_reserved,
        "available": event.available,
        "status": event.status.value,
        "reason": event.reason.value if event.reason else None,
        "reservation_id": event.reservation_id,
        "reference": event.reference,
        "occurred_at": event.occurred_at.isoformat(),
        "actor": event.actor,
        "incoming_delta": event.incoming_delta,
        "incoming_id": event.incoming_id,
        "transfer_id": event.transfer_id,
        "happened_at": event.happened_at.isoformat() if event.happened_at else None,
    }
    origin = trace_links.traceparent(event)
    if origin is not None:
        wire["traceparent"] = origin
    return orjson.dumps(wire).decode()


def decode(message: str) -> StockEvent:
    d: dict[str, Any] = orjson.loads(message)
    level = d["level"]
    event = StockEvent(
        sku=d["sku"],
        sequence=d["sequence"],
        kind=StockEventKind(d["kind"]),
        location_id=d["location_id"],
        location=d["location"],
        on_hand_delta=d["on_hand_delta"],
        reserved_delta=d["reserved_delta"],
        level=None if level is None else StockLevel(
            sku=d["sku"], location_id=d["location_id"], on_hand=level[0], reserved=level[1],
            safety_stock=level[2], version=level[3], updated_at=datetime.fromisoformat(level[4]),
            incoming=level[5] if len(level) > 5 else 0,
        ),
        sku_on_hand=d["sku_on_hand"],
        sku_reserved=d["sku_reserved"],
        available=d["available"],
        status=AvailabilityStatus(d["status"]),
        reason=AdjustmentReason(d["reason"]) if d["reason"] else None,
        reservation_id=d["reservation_id"],
        reference=d["reference"],
        occurred_at=datetime.fromisoformat(d["occurred_at"]),
        actor=d.get("actor"),  # absent from an instance that predates ownership
        incoming_delta=d.get("incoming_delta", 0),  # absent before incoming stock
        incoming_id=d.get("incoming_id"),
        transfer_id=d.get("transfer_id"),
        happened_at=datetime.fromisoformat(d["happened_at"]) if d.get("happened_at") else None,
    )
    trace_links.adopt(event, d.get("traceparent"))
    return event
