"""The recordSales resolver: the call's checks and the caller's location binding, one use case,
and the moved and shorted holds the caller may see (bound by schema.sales)."""

from __future__ import annotations

from collections.abc import Sequence

from domain.outcome import Outcome
from domain.ownership import reservation_for
from domain.sales import Sale, check_sales
from resolvers.context import Info
from resolvers.mutation import refused
from resolvers.permissions import check_locations
from service import sales


async def record_sales(
    info: Info, *, location: str, sales_made: Sequence[Sale]
) -> Outcome | list[Outcome]:
    """The refusal of the whole call (nothing ran), else one outcome per sale."""
    check_locations(info, location)
    if (refusal := refused(lambda: check_sales(location, sales_made))) is not None:
        return refusal
    outcomes = await sales.record_sales(
        info.context.inventory, location=location, sales=sales_made,
        idempotency_scope=info.context.idempotency_scope,
    )
    principal = info.context.principal
    for outcome in outcomes:  # another key's hold moved or shorted: its owner and admins see it
        outcome.reservations = [r for r in outcome.reservations
                                if reservation_for(r, principal) is not None]
    return outcomes
