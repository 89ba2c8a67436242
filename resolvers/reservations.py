from __future__ import annotations

from domain.rules import (
    check_code,
    check_quantity,
    check_reservation_id,
    check_text,
    hold_seconds,
    is_reservation_id,
    merge_lines,
)
from resolvers.context import Info
from resolvers.mutation import run
from resolvers.permissions import check_locations
from schema.inputs import (
    CommitReservationInput,
    ExtendReservationInput,
    ReleaseReservationInput,
    ReserveInput,
    ReserveLinesInput,
)
from schema.payloads import (
    CommitReservationPayload,
    ExtendReservationPayload,
    ReleaseReservationPayload,
    ReserveLinesPayload,
    ReservePayload,
)
from store import reservations
from store.hold_batch import HoldRequest


async def _check_reservation_location(info: Info, reservation_id: str) -> None:
    principal = info.context.principal
    if principal is None or principal.locations is None or not is_reservation_id(reservation_id):
        return
    async with info.context.inventory.pool.acquire() as conn:
        found = await reservations.get(conn, reservation_id)
    if found is not None:
        location = await info.context.loaders.location.load(found["location_id"])
        check_locations(info, location.code)


async def reserve(info: Info, input: ReserveInput) -> ReservePayload:
    limits = info.context.inventory.limits
    location = input.location
    batcher = info.context.batcher
    check_locations(info, location)
    outcome = await run(info, "reserve", input, [
        lambda: check_code(input.sku, ["sku"]),
        lambda: location is None or check_code(location, ["location"]),
        lambda: check_quantity(input.quantity, ["quantity"], limits),
        lambda: hold_seconds(input.ttl_seconds, ["ttlSeconds"], limits),
        lambda: check_text(input.reference, ["reference"]),
        lambda: check_text(input.idempotency_key, ["idempotencyKey"]),
    ], lambda conn: reservations.reserve(
        conn, input.sku, location, input.quantity,
        hold_seconds(input.ttl_seconds, ["ttlSeconds"], limits), input.reference,
    ), batched=None if batcher is None else lambda: batcher.reserve(input.sku, HoldRequest(
        location, input.quantity, hold_seconds(input.ttl_seconds, ["ttlSeconds"], limits),
        input.reference,
    )))
    return ReservePayload.from_outcome(outcome)


async def reserve_lines(info: Info, input: ReserveLinesInput) -> ReserveLinesPayload:
    limits = info.context.inventory.limits
    lines = [(ln.sku, ln.location, ln.quantity) for ln in input.lines]
    check_locations(info, *(ln.location for ln in input.lines))
    outcome = await run(info, "reserveLines", input, [
        lambda: merge_lines(lines, limits),
        lambda: hold_seconds(input.ttl_seconds, ["ttlSeconds"], limits),
        lambda: check_text(input.reference, ["reference"]),
        lambda: check_text(input.idempotency_key, ["idempotencyKey"]),
    ], lambda conn: reservations.reserve_lines(
        conn, merge_lines(lines, limits),
        hold_seconds(input.ttl_seconds, ["ttlSeconds"], limits), input.reference,
    ))
    return ReserveLinesPayload.from_outcome(outcome)


async def extend_reservation(
    info: Info, input: ExtendReservationInput
) -> ExtendReservationPayload:
    limits = info.context.inventory.limits
    await _check_reservation_location(info, input.reservation_id)
    outcome = await run(info, "extendReservation", input, [
        lambda: check_reservation_id(input.reservation_id, ["reservationId"]),
        lambda: hold_seconds(input.ttl_seconds, ["ttlSeconds"], limits),
    ], lambda conn: reservations.extend(
        conn, input.reservation_id, hold_seconds(input.ttl_seconds, ["ttlSeconds"], limits)
    ))
    return ExtendReservationPayload.from_outcome(outcome)


async def commit_reservation(
    info: Info, input: CommitReservationInput
) -> CommitReservationPayload:
    await _check_reservation_location(info, input.reservation_id)
    outcome = await run(info, "commitReservation", input, [
        lambda: check_reservation_id(input.reservation_id, ["reservationId"]),
        lambda: check_text(input.reference, ["reference"]),
        lambda: check_text(input.idempotency_key, ["idempotencyKey"]),
    ], lambda conn: reservations.commit(conn, input.reservation_id, input.reference))
    return CommitReservationPayload.from_outcome(outcome)


async def release_reservation(
    info: Info, input: ReleaseReservationInput
) -> ReleaseReservationPayload:
    await _check_reservation_location(info, input.reservation_id)
    outcome = await run(info, "releaseReservation", input, [
        lambda: check_reservation_id(input.reservation_id, ["reservationId"]),
    ], lambda conn: reservations.release(conn, input.reservation_id))
    return ReleaseReservationPayload.from_outcome(outcome)
