"""What every command is called, and the metrics and log line per committed change (used by
service.inventory's unit of work and service.batching's group commit)."""

from __future__ import annotations

import enum
import logging

from domain.model import StockEventKind
from domain.outcome import Outcome
from ops.metrics import RESERVATIONS, STOCK_EVENTS

log = logging.getLogger("service.inventory")


class Command(enum.Enum):
    """Each value is stored in idempotency scopes (`<caller>:<value>`) and is the `operation` of
    logs: the mutation field name it was first stored under, so it never changes."""

    RESERVE = "reserve"
    RESERVE_LINES = "reserveLines"
    EXTEND = "extendReservation"
    COMMIT = "commitReservation"
    RELEASE = "releaseReservation"
    EXPIRE = "expire"
    ADJUST = "adjustStock"
    SET_STOCK = "setStock"
    UPSERT_SKU = "upsertSku"
    UPSERT_LOCATION = "upsertLocation"
    CREATE_WEBHOOK_ENDPOINT = "createWebhookEndpoint"
    UPDATE_WEBHOOK_ENDPOINT = "updateWebhookEndpoint"
    DELETE_WEBHOOK_ENDPOINT = "deleteWebhookEndpoint"
    ROTATE_WEBHOOK_SECRET = "rotateWebhookSecret"
    REPLAY_WEBHOOK_EVENTS = "replayWebhookEvents"
    RETRY_DEAD_DELIVERIES = "retryDeadDeliveries"
    UPSERT_CHANNEL = "upsertChannel"
    EXPECT_INCOMING = "expectIncoming"
    RECEIVE_INCOMING = "receiveIncoming"
    CANCEL_INCOMING = "cancelIncoming"
    SHIP_TRANSFER = "shipTransfer"
    RECEIVE_TRANSFER = "receiveTransfer"
    CANCEL_TRANSFER = "cancelTransfer"
    UPSERT_BUNDLE = "upsertBundle"
    RECORD_SALE = "recordSales"


HOLDING = frozenset({Command.RESERVE, Command.RESERVE_LINES})
OUTCOME_BY_KIND = {
    StockEventKind.RESERVED: "held", StockEventKind.COMMITTED: "committed",
    StockEventKind.RELEASED: "released", StockEventKind.EXPIRED: "expired",
}


def record(command: Command, outcome: Outcome) -> None:
    """Metrics and one log line per committed stock change."""
    if outcome.error is not None:
        if command in HOLDING and outcome.error.code == "INSUFFICIENT_STOCK":
            RESERVATIONS.labels("insufficient").inc()
        return
    logging_changes = log.isEnabledFor(logging.INFO)
    counted: set[tuple[StockEventKind, str | None]] = set()  # a bundle hold: one per component
    for event in outcome.events:
        STOCK_EVENTS.labels(event.kind.value).inc()
        if event.kind in OUTCOME_BY_KIND and (event.kind, event.reservation_id) not in counted:
            counted.add((event.kind, event.reservation_id))
            RESERVATIONS.labels(OUTCOME_BY_KIND[event.kind]).inc()
        if logging_changes:
            log.info("stock %s %s #%d", event.kind.value, event.sku, event.sequence, extra={
                "operation": command.value, "sku": event.sku, "sequence": event.sequence,
                "kind": event.kind.value, "location": event.location,
                "changes": {"on_hand": event.on_hand_delta, "reserved": event.reserved_delta,
                            "incoming": event.incoming_delta},
                "reservation": event.reservation_id, "transfer": event.transfer_id,
            })
