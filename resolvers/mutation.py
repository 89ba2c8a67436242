"""The argument checks every mutation resolver runs before its use case (used by
resolvers.reservations, resolvers.stock and resolvers.catalog)."""

from __future__ import annotations

from collections.abc import Callable

from domain.errors import StockError
from domain.outcome import Outcome
from domain.rules import check_all


def refused(*checks: Callable[[], object]) -> Outcome | None:
    """Run every check (fields named as in GraphQL); the outcome of their failures, which
    changed nothing, or None when all of them pass."""
    try:
        check_all(*checks)
    except StockError as error:
        return Outcome(error=error)
    return None
