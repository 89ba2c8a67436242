"""compat/strawberry.py's cached get_hook finds the same hooks as Strawberry 0.341's own, and
they run as they did: entered and left in order, around each stage, once per operation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
)

from compat.strawberry import _cached_get_hook, _get_hook, cache_extension_hooks
from schema.root import build_schema

STAGES = (OperationContextManager, ParsingContextManager, ValidationContextManager,
          ExecutingContextManager)
seen: list[str] = []


class Recording(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        seen.append("operation in")
        yield
        seen.append("operation out")

    async def on_execute(self) -> AsyncIterator[None]:
        seen.append("execute in")
        yield
        seen.append("execute out")

    def on_parse(self) -> None:  # a plain callable: Strawberry's own way
        seen.append("parse")


@strawberry.type
class Query:
    ping: str = "pong"


def test_the_same_hooks_as_strawberrys_own() -> None:
    extensions = [make() for make in build_schema().extensions] + [Recording()]
    for stage in STAGES:
        manager = stage([])
        for extension in extensions:
            ours, theirs = _cached_get_hook(manager, extension), _get_hook(manager, extension)
            assert (ours is None) == (theirs is None), (stage, extension)
            if ours is not None and theirs is not None:
                assert ours.is_async == theirs.is_async and ours.extension is extension


async def test_hooks_run_in_order_once_per_operation() -> None:
    cache_extension_hooks()
    schema = strawberry.Schema(query=Query, extensions=[Recording])
    for _ in range(2):
        seen.clear()
        result = await schema.execute("{ ping }", root_value=Query())
        assert result.errors is None and result.data == {"ping": "pong"}
        assert seen == ["operation in", "parse", "execute in", "execute out", "operation out"]
