"""The JSON of the plain SSE feed's `snapshot` and `stock` events, in the GraphQL types' camelCase
field names (used by web/sse.py)."""

from __future__ import annotations

import orjson

from domain.access import Principal
from domain.model import Sku, StockEvent
from domain.ownership import shown_to


def snapshot_data(sku: Sku) -> bytes:
    return orjson.dumps({
        "sku": sku.code, "sequence": sku.sequence, "kind": "SNAPSHOT",
        "onHand": sku.on_hand, "reserved": sku.reserved, "available": sku.available,
        "status": sku.status.value,
    })


def event_data(event: StockEvent, viewer: Principal | None) -> bytes:
    """The event as the GraphQL StockEvent type shows it (camelCase) to `viewer`, with the
    location as its code and the SKU-wide onHand and reserved, for plain SSE clients."""
    event = shown_to(event, viewer)
    level = event.level
    return orjson.dumps({
        "sku": event.sku,
        "sequence": event.sequence,
        "kind": event.kind.value,
        "location": event.location,
        "onHandDelta": event.on_hand_delta,
        "reservedDelta": event.reserved_delta,
        "level": None if level is None else {
            "onHand": level.on_hand, "reserved": level.reserved,
            "safetyStock": level.safety_stock, "available": level.available,
            "version": level.version, "incoming": level.incoming,
        },
        "onHand": event.sku_on_hand,
        "reserved": event.sku_reserved,
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
    })
