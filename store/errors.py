"""The one place where database failures are classified: broken invariants become domain errors
(service.inventory's unit of work), a lost connection a retryable refusal (schema.errors)."""

from __future__ import annotations

import asyncpg

from domain.errors import InsufficientStock, InvalidQuantity, StockError


def translate(exc: asyncpg.PostgresError) -> StockError | None:
    if isinstance(exc, asyncpg.CheckViolationError):
        return InsufficientStock("the change would break a stock invariant")
    if isinstance(exc, asyncpg.NumericValueOutOfRangeError):
        return InvalidQuantity("the resulting quantity is out of range")
    return None


def connection_lost(exc: BaseException) -> bool:
    """PostgreSQL could not be reached or the connection broke during the request: the
    transaction did not commit (or its commit was not confirmed), so a retry with the same
    idempotency key is safe and changes nothing twice."""
    if isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.CannotConnectNowError
                  | asyncpg.AdminShutdownError | asyncpg.CrashShutdownError | ConnectionError):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)
