"""Mutation payloads, built from a use case's Outcome with from_outcome(); domain errors become
userErrors here, in the API's names (called by schema.mutation)."""

from __future__ import annotations

import re
from typing import Self

import strawberry

from domain.errors import StockError
from domain.outcome import Outcome
from schema.enums import UserErrorCode
from schema.types import Channel, Location, Reservation, Sku, StockLevel


@strawberry.type(
    description="A business-rule failure. Malformed requests and auth failures are GraphQL "
    "errors instead."
)
class UserError:
    code: UserErrorCode
    field: list[str] | None = strawberry.field(
        description='Path of the input field at fault, e.g. ["input", "quantity"] or '
        '["input", "lines", "2", "quantity"].'
    )
    message: str

    @classmethod
    def from_domain(cls, error: StockError) -> UserError:
        """The error as the API names it: its field path under "input", in argument names."""
        field = [ARGUMENT_NAMES.get(part, part) for part in error.field or []]
        message = error.message
        for part in error.field or []:
            if part in ARGUMENT_NAMES:
                message = re.sub(rf"\b{part}\b", ARGUMENT_NAMES[part], message)
        return cls(code=UserErrorCode(error.code), field=["input", *field], message=message)


# The domain's words for the inputs' fields whose GraphQL names differ. Errors stored with an
# idempotency key before the domain spoke its own words carry the GraphQL names already, which
# pass through unchanged.
ARGUMENT_NAMES = {
    "expected_version": "expectedVersion",
    "on_hand": "onHand",
    "safety_stock": "safetyStock",
    "low_stock_threshold": "lowStockThreshold",
    "reservation_id": "reservationId",
    "idempotency_key": "idempotencyKey",
    "ttl": "ttlSeconds",
}


def user_errors(outcome: Outcome) -> list[UserError]:
    """The one translation point from domain failures to the payloads' userErrors."""
    if outcome.error is None:
        return []
    return [UserError.from_domain(e) for e in outcome.error.errors]


def _level(outcome: Outcome) -> StockLevel | None:
    return StockLevel.from_domain(outcome.level) if outcome.level else None


def _reservation(outcome: Outcome) -> Reservation | None:
    return Reservation.from_domain(outcome.reservation) if outcome.reservation else None


@strawberry.type
class UpsertSkuPayload:
    sku: Sku | None
    user_errors: list[UserError]

    @classmethod
    def from_outcome(cls, outcome: Outcome) -> Self:
        sku = Sku.from_domain(outcome.sku) if outcome.sku else None
        return cls(sku=sku, user_errors=user_errors(outcome))


@strawberry.type
class UpsertLocationPayload:
    location: Location | None
    user_errors: list[UserError]

    @classmethod
    def from_outcome(cls, outcome: Outcome) -> Self:
        location = Location.from_domain(outcome.location) if outcome.location else None
        return cls(location=location, user_errors=user_errors(outcome))


@strawberry.type
class _HoldPayload:
    reservation: Reservation | None
    level: StockLevel | None
    user_errors: list[UserError]

    @classmethod
    def from_outcome(cls, outcome: Outcome) -> Self:
        return cls(
            reservation=_reservation(outcome),
            level=_level(outcome),
            user_errors=user_errors(outcome),
        )


@strawberry.type
class ReservePayload(_HoldPayload):
    reservations: list[Reservation] = strawberry.field(
        default_factory=list,
        description="(v2) Every reservation made: one, or one per location with allowSplit; "
        "empty on failure.",
    )

    @classmethod
    def from_outcome(cls, outcome: Outcome) -> Self:
        payload = super().from_outcome(outcome)
        payload.reservations = [Reservation.from_domain(r) for r in outcome.reservations]
        return payload


@strawberry.type
class ReserveLinesPayload:
    reservations: list[Reservation] = strawberry.field(
        description="One reservation per held (SKU, location), in the order of the input lines."
    )
    user_errors: list[UserError]

    @classmethod
    def from_outcome(cls, outcome: Outcome) -> Self:
        return cls(
            reservations=[Reservation.from_domain(r) for r in outcome.reservations],
            user_errors=user_errors(outcome),
        )


@strawberry.type
class ExtendReservationPayload:
    reservation: Reservation | None
    user_errors: list[UserError]

    @classmethod
    def from_outcome(cls, outcome: Outcome) -> Self:
        return cls(reservation=_reservation(outcome), user_errors=user_errors(outcome))


@strawberry.type
class CommitReservationPayload(_HoldPayload):
    pass


@strawberry.type
class ReleaseReservationPayload(_HoldPayload):
    pass


@strawberry.type
class AdjustStockPayload:
    level: StockLevel | None
    user_errors: list[UserError]

    @classmethod
    def from_outcome(cls, outcome: Outcome) -> Self:
        return cls(level=_level(outcome), user_errors=user_errors(outcome))


@strawberry.type
class SetStockPayload(AdjustStockPayload):
    pass


@strawberry.type
class UpsertChannelPayload:
    channel: Channel | None
    user_errors: list[UserError]

    @classmethod
    def from_outcome(cls, outcome: Outcome) -> Self:
        channel = Channel.from_domain(outcome.channel) if outcome.channel else None
        return cls(channel=channel, user_errors=user_errors(outcome))
