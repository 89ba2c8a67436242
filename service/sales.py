"""recordSales: each sale a store made offline in its own transaction of the unit of work, under
its own idempotency key, so a resent queue applies each sale once (called by resolvers.sales)."""

from __future__ import annotations

from collections.abc import Sequence

from domain.errors import StockError
from domain.outcome import Outcome
from domain.sales import Sale, check_sale
from service.inventory import Inventory
from service.recording import Command
from store import sales as sales_store


async def record_sales(
    inventory: Inventory, *, location: str, sales: Sequence[Sale], idempotency_scope: str = "-",
) -> list[Outcome]:
    """One outcome per sale, in input order; a sale's failure is its own (its fields named
    under ["sales", index]) and changes nothing of the others."""
    outcomes = []
    for index, sale in enumerate(sales):
        outcome = await _record(inventory, location, sale, idempotency_scope)
        if outcome.error is not None:
            outcome.error = outcome.error.at("sales", index)
        outcomes.append(outcome)
    return outcomes


async def _record(inventory: Inventory, location: str, sale: Sale, scope: str) -> Outcome:
    try:
        check_sale(sale, inventory.limits)
    except StockError as error:
        return Outcome(error=error)
    return await inventory.mutate(
        lambda conn: sales_store.record_sale(
            conn, sale.sku, location, sale.quantity, sale.happened_at, sale.reference),
        command=Command.RECORD_SALE,
        # what a resend with the same key must repeat (stored hashed): these keys never change
        arguments={"location": location, "sku": sale.sku, "quantity": sale.quantity,
                   "happened_at": sale.happened_at, "reference": sale.reference},
        idempotency_key=sale.idempotency_key,
        principal=scope,
    )
