"""Resolvers of the reservation mutations: check the arguments, call one use case of
service.reserving (bound by schema.mutation)."""

from __future__ import annotations

from collections.abc import Awaitable

from domain.channels import check_split
from domain.outcome import Outcome
from domain.ownership import NotOwner, acting
from domain.rules import (
    check_code,
    check_quantity,
    check_reservation_id,
    check_text,
    hold_seconds,
    is_reservation_id,
    merge_lines,
)
from resolvers.channels import reserving_within
from resolvers.context import Info
from resolvers.mutation import refused
from resolvers.permissions import access_error, check_locations
from service import reserving, views
from service.access import forbidden


async def _check_reservation_location(info: Info, reservation_id: str) -> None:
    principal = info.context.principal
    if principal is None or principal.locations is None or not is_reservation_id(reservation_id):
        return
    found = await views.reservation(info.context.inventory.pool, reservation_id)
    if found is not None:
        location = await info.context.loaders.location.load(found.location_id)
        check_locations(info, location.code)


async def _owned(change: Awaitable[Outcome]) -> Outcome:
    """A change of another key's hold is a FORBIDDEN GraphQL error, like a location the
    caller is not bound to; the use case changed nothing."""
    try:
        return await change
    except NotOwner as error:
        raise access_error(forbidden(str(error))) from None


async def reserve(
    info: Info, *, sku: str, location: str | None, quantity: int, ttl_seconds: int | None,
    reference: str | None, idempotency_key: str | None, channel: str | None = None,
    allow_split: bool = False,
) -> Outcome:
    limits = info.context.inventory.limits
    within = await reserving_within(info, channel, location)
    if (refusal := refused(
        lambda: check_code(sku, ["sku"]),
        lambda: location is None or check_code(location, ["location"]),
        lambda: channel is None or check_code(channel, ["channel"]),
        lambda: check_split(allow_split, location, ["allowSplit"]),
        lambda: check_quantity(quantity, ["quantity"], limits),
        lambda: hold_seconds(ttl_seconds, ["ttlSeconds"], limits),
        lambda: check_text(reference, ["reference"]),
        lambda: check_text(idempotency_key, ["idempotencyKey"]),
    )) is not None:
        return refusal
    return await reserving.reserve(
        info.context.inventory, sku=sku, location=location, quantity=quantity, ttl=ttl_seconds,
        reference=reference, idempotency_key=idempotency_key,
        idempotency_scope=info.context.idempotency_scope,
        acting=acting(info.context.principal), channel=channel, within=within,
        allow_split=allow_split,
    )


async def reserve_lines(
    info: Info, *, lines: list[tuple[str, str | None, int]], ttl_seconds: int | None,
    reference: str | None, idempotency_key: str | None, channel: str | None = None,
) -> Outcome:
    limits = info.context.inventory.limits
    within = await reserving_within(info, channel, *(location for _, location, _ in lines))
    if (refusal := refused(
        lambda: merge_lines(lines, limits),
        lambda: channel is None or check_code(channel, ["channel"]),
        lambda: hold_seconds(ttl_seconds, ["ttlSeconds"], limits),
        lambda: check_text(reference, ["reference"]),
        lambda: check_text(idempotency_key, ["idempotencyKey"]),
    )) is not None:
        return refusal
    return await reserving.reserve_lines(
        info.context.inventory, lines=lines, ttl=ttl_seconds, reference=reference,
        idempotency_key=idempotency_key, idempotency_scope=info.context.idempotency_scope,
        acting=acting(info.context.principal), channel=channel, within=within,
    )


async def extend_reservation(info: Info, *, reservation_id: str, ttl_seconds: int) -> Outcome:
    limits = info.context.inventory.limits
    await _check_reservation_location(info, reservation_id)
    if (refusal := refused(
        lambda: check_reservation_id(reservation_id, ["reservationId"]),
        lambda: hold_seconds(ttl_seconds, ["ttlSeconds"], limits),
    )) is not None:
        return refusal
    return await _owned(reserving.extend(
        info.context.inventory, reservation_id=reservation_id, ttl=ttl_seconds,
        acting=acting(info.context.principal),
    ))


async def commit_reservation(
    info: Info, *, reservation_id: str, reference: str | None, idempotency_key: str | None
) -> Outcome:
    await _check_reservation_location(info, reservation_id)
    if (refusal := refused(
        lambda: check_reservation_id(reservation_id, ["reservationId"]),
        lambda: check_text(reference, ["reference"]),
        lambda: check_text(idempotency_key, ["idempotencyKey"]),
    )) is not None:
        return refusal
    return await _owned(reserving.commit(
        info.context.inventory, reservation_id=reservation_id, reference=reference,
        idempotency_key=idempotency_key, idempotency_scope=info.context.idempotency_scope,
        acting=acting(info.context.principal),
    ))


async def release_reservation(info: Info, *, reservation_id: str) -> Outcome:
    await _check_reservation_location(info, reservation_id)
    if (refusal := refused(
        lambda: check_reservation_id(reservation_id, ["reservationId"]),
    )) is not None:
        return refusal
    return await _owned(reserving.release(
        info.context.inventory, reservation_id=reservation_id,
        acting=acting(info.context.principal),
    ))
