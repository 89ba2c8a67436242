"""The webhook API's GraphQL types, inputs and payloads, built from domain values and the use
cases' WebhookOutcome (used by schema.query and schema.mutation)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Self

import strawberry

from domain import webhooks as domain
from domain.errors import StockError
from resolvers import webhooks as resolvers
from resolvers.context import Info
from schema.enums import UserErrorCode
from schema.payloads import UserError
from service.webhooks import WebhookOutcome


def given(value: Any) -> Any:
    """An input field or argument left out (UNSET) reads as None."""
    return None if value is strawberry.UNSET else value


@strawberry.enum
class WebhookDeliveryStatus(enum.Enum):
    PENDING = strawberry.enum_value(
        "PENDING", description="Waiting for its turn or for its next attempt."
    )
    DELIVERED = "DELIVERED"
    DEAD = strawberry.enum_value(
        "DEAD", description="Every attempt failed; kept for inspection and retryDeadDeliveries."
    )


@strawberry.type
class WebhookDelivery:
    id: strawberry.ID
    event_id: str = strawberry.field(
        description="The CloudEvents id, also the webhook-id header: the same on every attempt."
    )
    event_type: str
    sku: str
    sequence: int
    status: WebhookDeliveryStatus
    attempts: int
    response_status: int | None = strawberry.field(
        description="HTTP status of the last attempt, null if none was answered."
    )
    error: str | None = strawberry.field(description="Last failure, in words.")
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def from_domain(cls, delivery: domain.WebhookDelivery) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(str(delivery.id)), event_id=delivery.event_id,
            event_type=delivery.event_type, sku=delivery.sku, sequence=delivery.sequence,
            status=WebhookDeliveryStatus(delivery.status.value), attempts=delivery.attempts,
            response_status=delivery.response_status, error=delivery.error,
            next_attempt_at=delivery.next_attempt_at, delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
        )


async def _deliveries(
    root: WebhookEndpoint, info: Info, status: WebhookDeliveryStatus | None = strawberry.UNSET,
    first: int | None = 50,
) -> list[WebhookDelivery]:
    wanted = given(status)
    found = await resolvers.deliveries(
        info, root.id_, domain.DeliveryStatus(wanted.value) if wanted else None, first
    )
    return [WebhookDelivery.from_domain(d) for d in found]


@strawberry.type(description="An endpoint's deliveries at a glance (the operator console's).")
class WebhookQueue:
    pending: int = strawberry.field(
        description="PENDING deliveries: the backlog, waiting for their turn or next attempt."
    )
    dead: int = strawberry.field(description="DEAD deliveries, waiting for retryDeadDeliveries.")
    oldest_pending_at: datetime | None = strawberry.field(
        description="When the oldest PENDING delivery was queued; null if none."
    )
    last_error: str | None = strawberry.field(
        description="The last failure of the newest delivery that failed; null if none did."
    )

    @classmethod
    def from_domain(cls, queue: domain.EndpointQueue) -> WebhookQueue:
        return cls(pending=queue.pending, dead=queue.dead,
                   oldest_pending_at=queue.oldest_pending_at, last_error=queue.last_error)


async def _queue(root: WebhookEndpoint, info: Info) -> WebhookQueue:
    return WebhookQueue.from_domain(await resolvers.queue(info, root.id_))


@strawberry.type(description="""(v2) A partner endpoint that receives events by HTTP POST: one CloudEvents 1.0 JSON document
per event (content type application/cloudevents+json), signed as Standard Webhooks specifies
(headers webhook-id, webhook-timestamp, webhook-signature). At least once; per endpoint and
SKU in sequence order (an event waits until the previous one of its SKU is delivered or dead).
An endpoint receives the events committed after it was created (earlier ones by
replayWebhookEvents). Event ids: `<sku>/<sequence>` for a ledger event (type
inventory.stock.<kind>); `<sku>/availability/<cause sku>/<cause sequence>` for
inventory.availability.changed, the cause being the ledger event that moved it (a component's,
for a bundle).""")  # noqa: E501 (the contract's text, line for line)
class WebhookEndpoint:
    id: strawberry.ID
    url: str
    event_types: list[str] = strawberry.field(
        description="CloudEvents types delivered (e.g. inventory.stock.reserved, "
        "inventory.availability.changed); empty = all."
    )
    skus: list[str] = strawberry.field(description="SKU codes delivered; empty = all.")
    enabled: bool
    disabled_reason: str | None = strawberry.field(
        description="Why the server disabled it (e.g. HTTP 410, failing for too long)."
    )
    created_at: datetime
    id_: strawberry.Private[int]

    deliveries: list[WebhookDelivery] = strawberry.field(
        description="Newest first.", resolver=_deliveries
    )
    queue: WebhookQueue = strawberry.field(
        description="Its backlog, dead deliveries and last error, counted now.", resolver=_queue
    )

    @classmethod
    def from_domain(cls, endpoint: domain.WebhookEndpoint) -> WebhookEndpoint:
        return cls(
            id=strawberry.ID(str(endpoint.id)), url=endpoint.url,
            event_types=list(endpoint.event_types), skus=list(endpoint.skus),
            enabled=endpoint.enabled, disabled_reason=endpoint.disabled_reason,
            created_at=endpoint.created_at, id_=endpoint.id,
        )


@strawberry.input
class CreateWebhookEndpointInput:
    url: str
    event_types: list[str] | None = strawberry.UNSET
    skus: list[str] | None = strawberry.UNSET


@strawberry.input
class UpdateWebhookEndpointInput:
    id: strawberry.ID
    url: str | None = strawberry.UNSET
    event_types: list[str] | None = strawberry.UNSET
    skus: list[str] | None = strawberry.UNSET
    enabled: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="Re-enabling clears disabledReason; what queued meanwhile is delivered.",
    )


@strawberry.input(
    description="Queue again, in order, every event of `sku` after `afterSequence` for this "
    "endpoint."
)
class ReplayWebhookEventsInput:
    endpoint_id: strawberry.ID
    sku: str
    after_sequence: int


def errors(outcome: WebhookOutcome, *, under_input: bool) -> list[UserError]:
    """The outcome's failure as userErrors; fields under "input" for an input mutation, else
    the argument's own name (deleteWebhookEndpoint(id), retryDeadDeliveries(endpointId))."""
    if outcome.error is None:
        return []
    if under_input:
        return [UserError.from_domain(e) for e in outcome.error.errors]
    return [_argument_error(e) for e in outcome.error.errors]


def _argument_error(error: StockError) -> UserError:
    return UserError(code=UserErrorCode(error.code), field=error.field, message=error.message)


def _endpoint(outcome: WebhookOutcome) -> WebhookEndpoint | None:
    return WebhookEndpoint.from_domain(outcome.endpoint) if outcome.endpoint else None


@strawberry.type
class CreateWebhookEndpointPayload:
    endpoint: WebhookEndpoint | None
    secret: str | None = strawberry.field(
        description="The signing secret (whsec_...), shown only here and by rotateWebhookSecret."
    )
    user_errors: list[UserError]

    @classmethod
    def from_outcome(cls, outcome: WebhookOutcome, *, under_input: bool = True) -> Self:
        failed = outcome.error is not None
        return cls(endpoint=None if failed else _endpoint(outcome),
                   secret=None if failed else outcome.secret,
                   user_errors=errors(outcome, under_input=under_input))


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None
    user_errors: list[UserError]

    @classmethod
    def from_outcome(cls, outcome: WebhookOutcome, *, under_input: bool = True) -> Self:
        failed = outcome.error is not None
        return cls(endpoint=None if failed else _endpoint(outcome),
                   user_errors=errors(outcome, under_input=under_input))


@strawberry.type
class WebhookQueuedPayload:
    queued: int
    user_errors: list[UserError]

    @classmethod
    def from_outcome(cls, outcome: WebhookOutcome, *, under_input: bool = True) -> Self:
        return cls(queued=0 if outcome.error is not None else outcome.queued,
                   user_errors=errors(outcome, under_input=under_input))
