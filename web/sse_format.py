"""The JSON of the plain SSE feed's `snapshot` and `stock` events, in the GraphQL types' camelCase
field names (used by web/sse.py)."""

from __future__ import annotations

import orjson

from domain.access import Principal
from domain.model import Sku, StockEvent
from domain.ownership import shown_to
from feed import cloudevents


def snapshot_data(sku: Sku) -> bytes:
    return orjson.dumps({
        "sku": sku.code, "sequence": sku.sequence, "kind": "SNAPSHOT",
        "onHand": sku.on_hand, "reserved": sku.reserved, "available": sku.available,
        "status": sku.status.value,
    })


def event_data(event: StockEvent, viewer: Principal | None) -> bytes:
    """The event as the GraphQL StockEvent type shows it (camelCase) to `viewer`, for plain
    SSE clients: the partner feeds' fields (feed/cloudevents.py)."""
    return orjson.dumps(cloudevents.stock_fields(shown_to(event, viewer)))
