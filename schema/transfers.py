"""The GraphQL side of transfers: the Transfer type, its enum, inputs and payload, and the
functions schema.mutation and schema.query bind to the transfer fields."""

from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry

from compat.strawberry import describe_enum_values
from domain import model
from domain.outcome import Outcome
from resolvers import transfers as resolvers
from resolvers.context import Info
from schema.payloads import UserError, user_errors
from schema.types import Location, _location
from schema.webhooks import given

strawberry.enum(model.TransferStatus)
describe_enum_values(model.TransferStatus, {
    "IN_TRANSIT": "Shipped from `from`, not yet received at `to`.",
})
TransferStatus = model.TransferStatus


@strawberry.type
class TransferLine:
    sku: str
    quantity: int = strawberry.field(description="Shipped.")
    received: int = strawberry.field(
        description="Received at `to`; after receipt, quantity - received is the loss in "
        "transit."
    )

    @classmethod
    def from_domain(cls, line: model.TransferLine) -> TransferLine:
        return cls(sku=line.sku, quantity=line.quantity, received=line.received)


async def _from(root: Transfer, info: Info) -> Location:
    return await _location(info, root.from_location_id)


async def _to(root: Transfer, info: Info) -> Location:
    return await _location(info, root.to_location_id)


@strawberry.type(description="(v2) Stock moving between two locations.")
class Transfer:
    id: strawberry.ID
    from_: Location = strawberry.field(name="from", resolver=_from)
    to: Location = strawberry.field(resolver=_to)
    status: model.TransferStatus
    lines: list[TransferLine]
    expected_at: datetime | None
    reference: str | None
    created_at: datetime
    from_location_id: strawberry.Private[int]
    to_location_id: strawberry.Private[int]

    @classmethod
    def from_domain(cls, t: model.Transfer) -> Transfer:
        return cls(
            id=strawberry.ID(t.id), status=t.status,
            lines=[TransferLine.from_domain(line) for line in t.lines],
            expected_at=t.expected_at, reference=t.reference, created_at=t.created_at,
            from_location_id=t.from_location_id, to_location_id=t.to_location_id,
        )


@strawberry.input(
    description="One SKU of a transfer, a plain one (a bundle holds no stock of its own: "
    "INVALID_INPUT);\nlines of the same SKU are summed, when shipping and when receiving."
)
class TransferLineInput:
    sku: str
    quantity: int


@strawberry.input(
    description="Ships every line from `from` (each needs available >= quantity there: never "
    "reserved or\nsafety stock) or nothing; each shipped line becomes Incoming (source "
    "TRANSFER) at `to`."
)
class ShipTransferInput:
    from_: str = strawberry.field(name="from")
    to: str
    lines: list[TransferLineInput]
    expected_at: datetime | None = strawberry.field(
        default=strawberry.UNSET,
        description="Omitted: the Incoming at `to` is expected at the time of shipping, and "
        "the transfer's expectedAt stays null.",
    )
    reference: str | None = strawberry.UNSET
    idempotency_key: str | None = strawberry.UNSET


@strawberry.input(
    description="Closes the transfer: what arrived goes to onHand at `to` (RECEIVED: "
    "onHandDelta = +received,\nincomingDelta = -received) and what did not arrive leaves "
    "`incoming` there (an INCOMING event,\nincomingDelta = -(quantity - received)): the ledger "
    "still replays to every level."
)
class ReceiveTransferInput:
    transfer_id: strawberry.ID
    lines: list[TransferLineInput] | None = strawberry.field(
        default=strawberry.UNSET,
        description="What arrived; omitted: every line in full. A line left out arrived "
        "with 0.",
    )
    idempotency_key: str | None = strawberry.UNSET


@strawberry.input(
    description="Only while IN_TRANSIT: the stock goes back to onHand at `from` (an ADJUSTED "
    "event, reason\nTRANSFER, at `from`) and leaves `incoming` at `to` (an INCOMING event with "
    "a negative\nincomingDelta at `to`)."
)
class CancelTransferInput:
    transfer_id: strawberry.ID


@strawberry.type
class TransferPayload:
    transfer: Transfer | None
    user_errors: list[UserError]

    @classmethod
    def from_outcome(cls, outcome: Outcome) -> Self:
        return cls(
            transfer=Transfer.from_domain(outcome.transfer) if outcome.transfer else None,
            user_errors=user_errors(outcome),
        )


def _lines(lines: list[TransferLineInput]) -> list[tuple[str, int]]:
    return [(line.sku, line.quantity) for line in lines]


async def ship_transfer(info: Info, input: ShipTransferInput) -> TransferPayload:
    return TransferPayload.from_outcome(await resolvers.ship_transfer(
        info, from_=input.from_, to=input.to, lines=_lines(input.lines),
        expected_at=given(input.expected_at), reference=given(input.reference),
        idempotency_key=given(input.idempotency_key),
    ))


async def receive_transfer(info: Info, input: ReceiveTransferInput) -> TransferPayload:
    lines = given(input.lines)
    return TransferPayload.from_outcome(await resolvers.receive_transfer(
        info, transfer_id=str(input.transfer_id),
        lines=None if lines is None else _lines(lines),
        idempotency_key=given(input.idempotency_key),
    ))


async def cancel_transfer(info: Info, input: CancelTransferInput) -> TransferPayload:
    return TransferPayload.from_outcome(
        await resolvers.cancel_transfer(info, transfer_id=str(input.transfer_id))
    )


async def transfer(info: Info, id: strawberry.ID) -> Transfer | None:
    found = await resolvers.transfer(info, str(id))
    return Transfer.from_domain(found) if found is not None else None


async def transfers(
    info: Info, status: TransferStatus | None = strawberry.UNSET,
    location: str | None = strawberry.UNSET, first: int | None = 100,
) -> list[Transfer]:
    found = await resolvers.transfer_list(
        info, status=given(status), location=given(location), first=first
    )
    return [Transfer.from_domain(t) for t in found]


SHIP_DESCRIPTION = "(v2)"
RECEIVE_DESCRIPTION = "(v2) Only while IN_TRANSIT (INVALID_STATE otherwise)."
CANCEL_DESCRIPTION = "(v2)"
TRANSFER_DESCRIPTION = "(v2)"
QUERY_DESCRIPTION = "(v2) Newest first; `location` matches either end."
