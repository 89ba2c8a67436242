"""The one place where database failures become domain errors (used by service.inventory's unit
of work)."""

from __future__ import annotations

import asyncpg

from domain.errors import InsufficientStock, InvalidQuantity, StockError


def translate(exc: asyncpg.PostgresError) -> StockError | None:
    if isinstance(exc, asyncpg.CheckViolationError):
        return InsufficientStock("the change would break a stock invariant")
    if isinstance(exc, asyncpg.NumericValueOutOfRangeError):
        return InvalidQuantity("the resulting quantity is out of range")
    return None
