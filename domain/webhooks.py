"""Partner webhook endpoints and their deliveries, as store/ reads them and schema/ shows them
(the API in service/webhooks.py, the delivery in feed/)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class DeliveryStatus(enum.Enum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    DEAD = "DEAD"


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    id: int
    url: str
    event_types: list[str]  # empty: every type
    skus: list[str]  # empty: every SKU
    enabled: bool
    disabled_reason: str | None
    created_at: datetime

    def wants(self, event_type: str, sku: str) -> bool:
        return ((not self.event_types or event_type in self.event_types)
                and (not self.skus or sku in self.skus))


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    id: int
    endpoint_id: int
    event_id: str
    event_type: str
    sku: str
    sequence: int
    status: DeliveryStatus
    attempts: int
    response_status: int | None
    error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EndpointQueue:
    """An endpoint's deliveries at a glance, for its operator."""

    pending: int  # the backlog: waiting for their turn or their next attempt
    dead: int
    oldest_pending_at: datetime | None
    last_error: str | None  # of the newest delivery that failed at least once
