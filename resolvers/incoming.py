"""Resolvers of incoming stock: expectIncoming, receiveIncoming, cancelIncoming, the incoming
query and Sku.availableToPromise (bound by schema.incoming and schema.types)."""

from __future__ import annotations

from datetime import datetime

from domain.model import Incoming, IncomingStatus
from domain.outcome import Outcome
from domain.rules import check_code, check_incoming_id, check_quantity, check_text
from resolvers import channels
from resolvers.context import Info
from resolvers.mutation import refused
from resolvers.permissions import check_locations
from resolvers.queries import page_size, text_argument
from service import incoming

MAX_INCOMING = 500


async def expect_incoming(
    info: Info, *, sku: str, location: str, quantity: int, expected_at: datetime,
    reference: str | None, idempotency_key: str | None,
) -> Outcome:
    limits = info.context.inventory.limits
    check_locations(info, location)
    if (refusal := refused(
        lambda: check_code(sku, ["sku"]),
        lambda: check_code(location, ["location"]),
        lambda: check_quantity(quantity, ["quantity"], limits),
        lambda: check_text(reference, ["reference"]),
        lambda: check_text(idempotency_key, ["idempotencyKey"]),
    )) is not None:
        return refusal
    return await incoming.expect(
        info.context.inventory, sku=sku, location=location, quantity=quantity,
        expected_at=expected_at, reference=reference, idempotency_key=idempotency_key,
        idempotency_scope=info.context.idempotency_scope,
    )


async def _bound(info: Info, incoming_id: str) -> None:
    """A key bound to locations settles only the incoming at them (an unknown id: NOT_FOUND)."""
    if info.context.principal is None:
        return
    location = await incoming.location_of(info.context.inventory.pool, incoming_id)
    if location is not None:
        check_locations(info, location)


async def receive_incoming(
    info: Info, *, incoming_id: str, quantity: int | None, idempotency_key: str | None,
) -> Outcome:
    limits = info.context.inventory.limits
    if (refusal := refused(
        lambda: check_incoming_id(incoming_id, ["incomingId"]),
        lambda: quantity is None or check_quantity(quantity, ["quantity"], limits),
        lambda: check_text(idempotency_key, ["idempotencyKey"]),
    )) is not None:
        return refusal
    await _bound(info, incoming_id)
    return await incoming.receive(
        info.context.inventory, incoming_id=incoming_id, quantity=quantity,
        idempotency_key=idempotency_key, idempotency_scope=info.context.idempotency_scope,
    )


async def cancel_incoming(info: Info, *, incoming_id: str) -> Outcome:
    if (refusal := refused(
        lambda: check_incoming_id(incoming_id, ["incomingId"]),
    )) is not None:
        return refusal
    await _bound(info, incoming_id)
    return await incoming.cancel(info.context.inventory, incoming_id=incoming_id)


async def incoming_list(
    info: Info, *, sku: str | None, location: str | None, status: IncomingStatus | None,
    first: int | None,
) -> list[Incoming]:
    limit = page_size(first, MAX_INCOMING)
    for value, name in ((sku, "sku"), (location, "location")):
        if value is not None:
            text_argument(value, name)
    return await incoming.incoming(
        info.context.reads, sku=sku, location=location,
        status=status.value if status else None, limit=limit,
    )


async def available_to_promise(
    info: Info, sku_id: int, at: datetime, channel: str | None
) -> int:
    if channel is not None:  # the same refusal as available(channel) and status(channel)
        await channels.known(info, channel)
    figure: int = await info.context.loaders.promise.load((sku_id, at, channel))
    return figure
