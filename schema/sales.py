"""The GraphQL side of recordSales: its inputs, payload and the function schema.mutation binds
to the field."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.outcome import Outcome
from domain.sales import Sale
from resolvers import sales as resolvers
from resolvers.context import Info
from schema.payloads import UserError, user_errors
from schema.types import Reservation, StockLevel
from schema.webhooks import given

RECORD_DESCRIPTION = "(v2)"


@strawberry.input
class SaleInput:
    sku: str
    quantity: int
    happened_at: datetime = strawberry.field(description="When the till sold it.")
    reference: str | None = strawberry.UNSET
    idempotency_key: str = strawberry.field(
        description="Required: a store resends its offline queue until every sale is "
        "acknowledged."
    )


@strawberry.input(
    description="Sales a store made while it could not reach the server. They happened, so "
    "they are never\nrefused for lack of stock: each takes min(quantity, onHand) off onHand at "
    "`location` (an\nADJUSTED SALE event with happenedAt). Holds the sale would leave "
    "uncovered (reserved >\nonHand afterwards) are resolved first, newest first: moved to "
    "another location that can\ncover them, within the hold's channel if it has one and within "
    "the locations its key may act\non (a MOVED event at the old location, then a RESERVED "
    "event at the new one, same\nreservation id; a bundle hold moves or is shorted with all its "
    "components together); a hold\nno location can cover becomes SHORTED (a SHORTED event). "
    "Then the sale's ADJUSTED event. A\nsale that happened before the level's latest SET (a "
    "stock count, which already includes it)\nis recorded with onHandDelta 0. Scope "
    "inventory:write; a location-bound key only for its\nlocations."
)
class RecordSalesInput:
    location: str
    sales: list[SaleInput]


@strawberry.type
class SaleResult:
    level: StockLevel | None
    shortfall: int = strawberry.field(
        description="quantity minus what onHand could give (stock the server did not know "
        "was gone)."
    )
    user_errors: list[UserError]

    @classmethod
    def from_outcome(cls, outcome: Outcome) -> SaleResult:
        return cls(
            level=StockLevel.from_domain(outcome.level) if outcome.level else None,
            shortfall=outcome.shortfall, user_errors=user_errors(outcome),
        )


@strawberry.type
class RecordSalesPayload:
    results: list[SaleResult] = strawberry.field(description="One per sale, in input order.")
    moved: list[Reservation] = strawberry.field(
        description="Holds moved to another location by these sales.")
    shorted: list[Reservation] = strawberry.field(description="Holds that became SHORTED.")
    user_errors: list[UserError]

    @classmethod
    def from_outcomes(cls, outcomes: Outcome | list[Outcome]) -> RecordSalesPayload:
        if isinstance(outcomes, Outcome):
            return cls(results=[], moved=[], shorted=[], user_errors=user_errors(outcomes))
        changed = [r for o in outcomes for r in o.reservations]
        return cls(
            results=[SaleResult.from_outcome(o) for o in outcomes],
            moved=[Reservation.from_domain(r) for r in changed if r.status.value == "ACTIVE"],
            shorted=[Reservation.from_domain(r) for r in changed if r.status.value == "SHORTED"],
            user_errors=[],
        )


async def record_sales(info: Info, input: RecordSalesInput) -> RecordSalesPayload:
    return RecordSalesPayload.from_outcomes(await resolvers.record_sales(
        info, location=input.location,
        sales_made=[Sale(s.sku, s.quantity, s.happened_at, given(s.reference),
                         s.idempotency_key) for s in input.sales],
    ))
