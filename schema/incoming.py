"""The GraphQL side of incoming stock: the Incoming type, its enums, inputs and payload, and the
functions schema.mutation and schema.query bind to expect/receive/cancelIncoming and incoming."""

from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry

from compat.strawberry import describe_enum_values
from domain import model
from domain.outcome import Outcome
from resolvers import incoming as resolvers
from resolvers.context import Info
from schema.payloads import UserError, user_errors
from schema.types import Location, StockLevel, _location
from schema.webhooks import given

strawberry.enum(model.IncomingStatus)
describe_enum_values(model.IncomingStatus, {"EXPECTED": "Announced, not (fully) received."})
strawberry.enum(model.IncomingSource)
describe_enum_values(model.IncomingSource, {
    "PURCHASE": "Announced with expectIncoming (a purchase order, a supplier's advance "
    "shipping notice).",
    "TRANSFER": "A transfer on its way here (shipTransfer).",
})
IncomingStatus = model.IncomingStatus


@strawberry.type(
    description="(v2) Stock expected at a location: counted in `incoming` and in "
    "availableToPromise, never in available."
)
class Incoming:
    id: strawberry.ID
    sku: str
    quantity: int
    received: int = strawberry.field(
        description="Received so far; the open quantity is quantity - received while EXPECTED."
    )
    expected_at: datetime
    status: model.IncomingStatus
    source: model.IncomingSource
    transfer_id: strawberry.ID | None = strawberry.field(description="Set when source is TRANSFER.")
    reference: str | None
    created_at: datetime
    location_id: strawberry.Private[int]

    @strawberry.field
    async def location(self, info: Info) -> Location:
        return await _location(info, self.location_id)

    @classmethod
    def from_domain(cls, i: model.Incoming) -> Incoming:
        return cls(
            id=strawberry.ID(i.id), sku=i.sku, quantity=i.quantity, received=i.received,
            expected_at=i.expected_at, status=i.status, source=i.source,
            transfer_id=strawberry.ID(i.transfer_id) if i.transfer_id else None,
            reference=i.reference, created_at=i.created_at, location_id=i.location_id,
        )


@strawberry.input
class ExpectIncomingInput:
    sku: str
    location: str
    quantity: int
    expected_at: datetime
    reference: str | None = strawberry.UNSET
    idempotency_key: str | None = strawberry.UNSET


@strawberry.input
class ReceiveIncomingInput:
    incoming_id: strawberry.ID
    quantity: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Omitted: the whole open quantity. A partial receipt leaves the rest "
        "EXPECTED.",
    )
    idempotency_key: str | None = strawberry.UNSET


@strawberry.input
class CancelIncomingInput:
    incoming_id: strawberry.ID


@strawberry.type
class IncomingPayload:
    incoming: Incoming | None
    level: StockLevel | None
    user_errors: list[UserError]

    @classmethod
    def from_outcome(cls, outcome: Outcome) -> Self:
        return cls(
            incoming=Incoming.from_domain(outcome.incoming) if outcome.incoming else None,
            level=StockLevel.from_domain(outcome.level) if outcome.level else None,
            user_errors=user_errors(outcome),
        )


async def expect_incoming(info: Info, input: ExpectIncomingInput) -> IncomingPayload:
    return IncomingPayload.from_outcome(await resolvers.expect_incoming(
        info, sku=input.sku, location=input.location, quantity=input.quantity,
        expected_at=input.expected_at, reference=given(input.reference),
        idempotency_key=given(input.idempotency_key),
    ))


async def receive_incoming(info: Info, input: ReceiveIncomingInput) -> IncomingPayload:
    return IncomingPayload.from_outcome(await resolvers.receive_incoming(
        info, incoming_id=str(input.incoming_id), quantity=given(input.quantity),
        idempotency_key=given(input.idempotency_key),
    ))


async def cancel_incoming(info: Info, input: CancelIncomingInput) -> IncomingPayload:
    return IncomingPayload.from_outcome(
        await resolvers.cancel_incoming(info, incoming_id=str(input.incoming_id))
    )


async def incoming(
    info: Info, sku: str | None = strawberry.UNSET, location: str | None = strawberry.UNSET,
    status: IncomingStatus | None = strawberry.UNSET, first: int | None = 100,
) -> list[Incoming]:
    found = await resolvers.incoming_list(
        info, sku=given(sku), location=given(location), status=given(status), first=first
    )
    return [Incoming.from_domain(i) for i in found]


EXPECT_DESCRIPTION = "(v2)"
RECEIVE_DESCRIPTION = (
    "(v2) Adds the received quantity to onHand; receiving more than is open gives "
    "INVALID_QUANTITY; a transfer's incoming gives INVALID_STATE (receiveTransfer)."
)
CANCEL_DESCRIPTION = (
    "(v2) Only while EXPECTED (INVALID_STATE otherwise); not for transfers (cancelTransfer). "
    "Removes the open quantity from incoming (an INCOMING event with a negative incomingDelta)."
)
QUERY_DESCRIPTION = "(v2) Open and past incoming stock, newest first; filters combine with AND."
