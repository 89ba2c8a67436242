"""graphql-core 3.3.2's executor memo, reset per subscription event by schema/execution.py; and
its gather_with_cancel, replaced by one that leaves no coroutine unawaited (schema/root.py).

Each event of a subscription runs on a shallow copy of the subscription's executor; the copies
share `_relevant_sub_fields` (keyed by the id of a list built anew per event) and
`_stream_usages`, so both grow by one entry per event until the subscription ends. Guarded by
tests/integration/test_subscription_memory.py.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Sequence
from typing import Any

from graphql.execution import executor
from graphql.pyutils import RefMap


def fresh_memo(executor: Any) -> None:
    """Gives a per-event executor memos of its own, freed with it after the event."""
    executor._relevant_sub_fields = {}
    executor._stream_usages = RefMap()


# graphql-core 3.3.2's gather_with_cancel cancels the sibling tasks of a field that failed (a
# non-null error nulling their parent). A task cancelled before its first step never runs its
# coroutine, and what that coroutine holds unstarted (a list item's `await_completed` holds the
# item's `get_results`, which holds its fields' `complete_awaitable_value`s, which hold the
# resolvers' coroutines) is dropped unawaited: "coroutine ... was never awaited" when collected
# (at interpreter exit, a KeyError '__import__' from the warning itself). Under load a failing
# field often lands one loop step after a sibling list started its items (tests/unit/
# test_graphql_core_compat.py builds that step). The replacement closes those coroutines first.


def _close_unstarted(value: Any, depth: int = 0) -> None:
    """Closes a coroutine that never ran and, through its arguments and closure (and the lists
    and dicts among them), the never-run coroutines it holds."""
    if depth > 32:
        return
    if isinstance(value, dict):
        for item in list(value.values()):
            _close_unstarted(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in list(value):
            _close_unstarted(item, depth + 1)
    elif inspect.iscoroutine(value) and inspect.getcoroutinestate(value) == inspect.CORO_CREATED:
        frame = value.cr_frame
        held = list(frame.f_locals.values()) if frame is not None else []
        value.close()
        for item in held:
            _close_unstarted(item, depth + 1)


async def gather_with_cancel(*awaitables: Awaitable[Any]) -> list[Any]:
    """graphql-core's: the results in order, or the first failure once the others are
    cancelled and settled; except that the tasks it cancels drop no coroutine unawaited. It
    waits with asyncio.wait, which (unlike gather) does not cancel the tasks when the waiter is
    cancelled: a task whose first step has not run yet has its coroutines closed first."""
    futures = [asyncio.ensure_future(aw) for aw in awaitables]
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:  # cancelled from outside
        _cancel(futures)
        raise
    failed = next((f for f in futures if f.done() and not f.cancelled()
                   and f.exception() is not None), None)
    if failed is None:
        return [f.result() for f in futures]
    _cancel(futures)
    await asyncio.gather(*futures, return_exceptions=True)
    raise failed.exception()  # type: ignore[misc]


def _cancel(futures: Sequence[asyncio.Future[Any]]) -> None:
    for future in futures:
        if not future.done():
            if isinstance(future, asyncio.Task):
                _close_unstarted(future.get_coro())
            future.cancel()


def patch_gather() -> None:
    """Installs gather_with_cancel in graphql-core's executor (schema/root.py, once)."""
    setattr(executor, "gather_with_cancel", gather_with_cancel)  # noqa: B010
