from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry

from domain.errors import StockError
from domain.outcome import Outcome
from domain.rules import check_all
from resolvers.context import Info
from service.inventory import Work


async def run(
    info: Info, field: str, input: Any, checks: list[Callable[[], object]], work: Work,
    batched: Callable[[], Awaitable[Outcome]] | None = None,
) -> Outcome:
    """Validate `input` (changing nothing on failure), then run `work` as one transaction,
    or `batched` (group commit) when given and the call carries no idempotency key."""
    try:
        check_all(*checks)
    except StockError as error:
        return Outcome(error=error)
    if batched is not None and getattr(input, "idempotency_key", None) is None:
        return await batched()
    arguments = strawberry.asdict(input)
    key = arguments.pop("idempotency_key", None)
    assert key is None or isinstance(key, str)
    return await info.context.inventory.mutate(
        work,
        field=field,
        arguments=arguments,
        idempotency_key=key,
        principal=info.context.idempotency_scope,
    )
