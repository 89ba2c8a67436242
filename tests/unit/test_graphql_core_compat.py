"""compat/graphql_core.py's gather_with_cancel: a non-null field that fails one loop step after
a sibling list started completing its items (what load makes common) nulls the operation and
cancels the sibling's tasks before their first step. graphql-core's own then drops the
coroutines those tasks held, unawaited ("coroutine ... was never awaited" when collected, a
KeyError '__import__' at interpreter exit); the replacement closes them and answers the same."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from graphql import ExecutionResult, build_schema, parse
from graphql.execution import execute, executor
from graphql.pyutils import gather_with_cancel as graphql_cores

from compat.graphql_core import gather_with_cancel

SCHEMA = build_schema("""
type Level { n: Int! }
type Sku { code: String! levels: [Level!]! }
type Query { skus: [Sku!]! failing: Int! }
""")
DOCUMENT = parse("{ skus { code levels { n } } failing }")


class Level:
    def __init__(self, n: int) -> None:
        self._n = n

    async def n(self, _info: Any) -> int:
        await asyncio.sleep(0)
        return self._n


class Sku:
    def __init__(self, code: str) -> None:
        self.code = code

    async def levels(self, _info: Any) -> list[Level]:
        await asyncio.sleep(0)
        return [Level(n) for n in range(3)]


async def skus(_info: Any) -> list[Sku]:
    await asyncio.sleep(0)
    return [Sku(str(n)) for n in range(3)]


async def failing(_info: Any) -> int:
    await asyncio.sleep(0)  # one step later: the skus' items are started, their fields not
    raise ValueError("failed")


def run(gather: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Any]:
    monkeypatch.setattr(executor, "gather_with_cancel", gather)

    async def main() -> list[Any]:
        answers = []
        for _ in range(5):
            result = execute(SCHEMA, DOCUMENT, {"skus": skus, "failing": failing})
            assert not isinstance(result, ExecutionResult)
            answers.append((await result).formatted)  # its error's frames hold the tasks: let go
        await asyncio.sleep(0.01)
        return answers

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        answers = asyncio.run(main())
        gc.collect()
    return [str(w.message) for w in caught if "never awaited" in str(w.message)], answers


def test_graphql_cores_own_drops_coroutines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once this fails, graphql-core is fixed and the replacement can go."""
    unawaited, _ = run(graphql_cores, monkeypatch)
    assert any("get_results" in message for message in unawaited)


def test_the_replacement_leaves_none_and_answers_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unawaited, answers = run(gather_with_cancel, monkeypatch)
    assert unawaited == []
    _, expected = run(graphql_cores, monkeypatch)
    assert answers == expected
    assert answers[0]["data"] is None and answers[0]["errors"][0]["message"] == "failed"


def test_it_returns_results_in_order_and_raises_the_failure() -> None:
    async def value(n: int, delay: int) -> int:
        for _ in range(delay):
            await asyncio.sleep(0)
        return n

    async def boom() -> int:
        await asyncio.sleep(0)
        raise KeyError("x")

    async def main() -> None:
        assert await gather_with_cancel(value(1, 3), value(2, 0), value(3, 1)) == [1, 2, 3]
        slow = asyncio.ensure_future(value(4, 50))
        with pytest.raises(KeyError):
            await gather_with_cancel(boom(), slow)
        assert slow.cancelled()

    asyncio.run(main())
