"""The one place where database failures are classified (used by service.inventory, schema.errors
and the retrying loops of service/ and feed/).

Broken invariants become domain errors; a lost connection a retryable refusal or one log line."""

from __future__ import annotations

import logging

import asyncpg

from domain.errors import InsufficientStock, InvalidQuantity, StockError


def translate(exc: asyncpg.PostgresError) -> StockError | None:
    if isinstance(exc, asyncpg.CheckViolationError):
        return InsufficientStock("the change would break a stock invariant")
    if isinstance(exc, asyncpg.NumericValueOutOfRangeError):
        return InvalidQuantity("the resulting quantity is out of range")
    return None


class Busy(Exception):
    """Contention a retry resolves (e.g. store.sales' Contended): nothing was committed, so a
    retry with the same idempotency key is safe; refused as SERVICE_UNAVAILABLE."""


def connection_lost(exc: BaseException) -> bool:
    """PostgreSQL could not be reached or the connection broke during the request: the
    transaction did not commit (or its commit was not confirmed), so a retry with the same
    idempotency key is safe and changes nothing twice."""
    if isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.CannotConnectNowError
                  | asyncpg.AdminShutdownError | asyncpg.CrashShutdownError | ConnectionError):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)


def not_migrated(exc: BaseException) -> bool:
    """The database has no tables yet: MIGRATE_ON_START=false and the migration job has not
    run (`server.py migrate`); /readyz says so meanwhile."""
    return isinstance(exc, asyncpg.UndefinedTableError)


_WAITING: set[str] = set()  # the loops that said once that they wait for the migrations


def log_failure(log: logging.Logger, exc: BaseException, task: str, *args: object) -> None:
    """How a background loop that retries reports a failed round: a lost database is one
    WARNING line (nothing is wrong here), a database not migrated yet one WARNING line per
    loop for the process's life, anything else an ERROR with its traceback."""
    if connection_lost(exc):
        log.warning(f"{task}: database unavailable (%s); retrying", *args, type(exc).__name__)
    elif not_migrated(exc):
        if task not in _WAITING:
            _WAITING.add(task)
            log.warning(f"{task}: the database is not migrated yet (run `server.py migrate`); "
                        "retrying quietly", *args)
    else:
        log.exception(f"{task} failed; retrying", *args, exc_info=exc)
