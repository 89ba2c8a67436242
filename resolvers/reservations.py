from __future__ import annotations

from domain.rules import (
    check_code,
    check_quantity,
    check_reservation_id,
    check_text,
    hold_seconds,
    merge_lines,
)
from resolvers.context import Info
from resolvers.mutation import run
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


async def reserve(info: Info, input: ReserveInput) -> ReservePayload:
    limits = info.context.inventory.limits
    location = input.location
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
    ))
    return ReservePayload.from_outcome(outcome)


async def reserve_lines(info: Info, input: ReserveLinesInput) -> ReserveLinesPayload:
    limits = info.context.inventory.limits
    lines = [(ln.sku, ln.location, ln.quantity) for ln in input.lines]
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
    outcome = await run(info, "commitReservation", input, [
        lambda: check_reservation_id(input.reservation_id, ["reservationId"]),
        lambda: check_text(input.reference, ["reference"]),
        lambda: check_text(input.idempotency_key, ["idempotencyKey"]),
    ], lambda conn: reservations.commit(conn, input.reservation_id, input.reference))
    return CommitReservationPayload.from_outcome(outcome)


async def release_reservation(
    info: Info, input: ReleaseReservationInput
) -> ReleaseReservationPayload:
    outcome = await run(info, "releaseReservation", input, [
        lambda: check_reservation_id(input.reservation_id, ["reservationId"]),
    ], lambda conn: reservations.release(conn, input.reservation_id))
    return ReleaseReservationPayload.from_outcome(outcome)
