"""Resolvers of the webhook API: check the arguments (domain/webhook_rules.py, GraphQL field
names), call one use case of service.webhooks (bound by schema.query and schema.mutation)."""

from __future__ import annotations

from collections.abc import Callable

from graphql import GraphQLError

from domain.errors import InvalidInput, StockError
from domain.model import StockEventKind
from domain.rules import check_all, check_text
from domain.webhook_rules import check_event_types, check_skus, check_url, endpoint_id
from domain.webhooks import DeliveryStatus, EndpointQueue, WebhookDelivery, WebhookEndpoint
from feed.cloudevents import event_types
from resolvers.context import Info
from service import views, webhooks
from service.webhooks import WebhookOutcome

# deliveries(first): at most this many per page (resolvers/cost.py counts it)
MAX_DELIVERIES = 500
# The CloudEvents types an endpoint may ask for: every ledger kind a sink sends, and
# availability changes (snapshots are a subscription's first message, never a ledger entry).
KNOWN_TYPES = event_types([k.value for k in StockEventKind if k is not StockEventKind.SNAPSHOT])


def _refused(*checks: Callable[[], object]) -> WebhookOutcome | None:
    try:
        check_all(*checks)
    except StockError as error:
        return WebhookOutcome(error=error)
    return None


def _not_negative(value: int, field: list[str]) -> None:
    if value < 0:
        raise InvalidInput("afterSequence must not be negative", field)


def _id(value: str, field: str) -> int | WebhookOutcome:
    try:
        return endpoint_id(value, [field])
    except StockError as error:
        return WebhookOutcome(error=error)


async def webhook_endpoints(info: Info) -> list[WebhookEndpoint]:
    return await webhooks.endpoints(info.context.reads)


async def webhook_endpoint(info: Info, id: str) -> WebhookEndpoint | None:
    try:
        found = endpoint_id(id, ["id"])
    except StockError:
        return None  # a malformed id names no endpoint
    return await webhooks.endpoint(info.context.reads, found)


async def deliveries(
    info: Info, endpoint: int, status: DeliveryStatus | None, first: int | None
) -> list[WebhookDelivery]:
    limit = 50 if first is None else first
    if not 0 <= limit <= MAX_DELIVERIES:
        raise GraphQLError(f"`first` must be between 0 and {MAX_DELIVERIES}",
                           extensions={"code": "BAD_USER_INPUT"})
    if limit == 0:
        return []
    return await webhooks.deliveries(info.context.reads, endpoint, status, limit)


async def queue(info: Info, endpoint: int) -> EndpointQueue:
    return await views.webhook_queue(info.context.reads, endpoint)


async def create_endpoint(
    info: Info, *, url: str, event_types: list[str] | None, skus: list[str] | None
) -> WebhookOutcome:
    types, codes = event_types or [], skus or []
    if (refusal := _refused(
        lambda: check_url(url, ["url"]),
        lambda: check_event_types(types, KNOWN_TYPES, ["eventTypes"]),
        lambda: check_skus(codes, ["skus"]),
    )) is not None:
        return refusal
    principal = info.context.principal
    return await webhooks.create_endpoint(
        info.context.inventory, info.context.partners, url=url, event_types=types, skus=codes,
        created_by=principal.key_id if principal is not None else None,
    )


async def update_endpoint(
    info: Info, *, id: str, url: str | None, event_types: list[str] | None,
    skus: list[str] | None, enabled: bool | None,
) -> WebhookOutcome:
    if isinstance(found := _id(id, "id"), WebhookOutcome):
        return found
    if (refusal := _refused(
        lambda: url is None or check_url(url, ["url"]),
        lambda: event_types is None or check_event_types(event_types, KNOWN_TYPES,
                                                         ["eventTypes"]),
        lambda: skus is None or check_skus(skus, ["skus"]),
    )) is not None:
        return refusal
    return await webhooks.update_endpoint(
        info.context.inventory, info.context.partners, found, url=url,
        event_types=event_types, skus=skus, enabled=enabled,
    )


async def delete_endpoint(info: Info, *, id: str) -> WebhookOutcome:
    if isinstance(found := _id(id, "id"), WebhookOutcome):
        return found
    return await webhooks.delete_endpoint(info.context.inventory, found)


async def rotate_secret(info: Info, *, id: str) -> WebhookOutcome:
    if isinstance(found := _id(id, "id"), WebhookOutcome):
        return found
    return await webhooks.rotate_secret(info.context.inventory, info.context.partners, found)


async def replay_events(
    info: Info, *, endpoint_id: str, sku: str, after_sequence: int
) -> WebhookOutcome:
    if isinstance(found := _id(endpoint_id, "endpointId"), WebhookOutcome):
        return found
    if (refusal := _refused(
        lambda: check_text(sku, ["sku"], required=True),
        lambda: _not_negative(after_sequence, ["afterSequence"]),
    )) is not None:
        return refusal
    return await webhooks.replay_events(
        info.context.inventory, info.context.partners, found, sku=sku,
        after_sequence=after_sequence,
    )


async def retry_dead(info: Info, *, endpoint_id: str) -> WebhookOutcome:
    if isinstance(found := _id(endpoint_id, "endpointId"), WebhookOutcome):
        return found
    return await webhooks.retry_dead(info.context.inventory, found)
