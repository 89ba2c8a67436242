"""Gatekeeper.watch counts feeds against their owner's cap: a feed that ended without being
unwatched is swept only when the cap is reached (a sweep per new feed cost O(n) each)."""

from __future__ import annotations

from typing import Any

import pytest

from domain.access import Scope
from service.access import AccessError, Gatekeeper


async def _close(reason: str) -> None:
    return None


def test_the_alive_backstop_runs_only_at_the_cap() -> None:
    keeper = Gatekeeper(pool=None, max_feeds_per_address=3)  # type: ignore[arg-type]
    asked: list[int] = []
    states = [True, True, True]

    def alive(n: int) -> Any:
        def check() -> bool:
            asked.append(n)
            return states[n]
        return check

    feeds = [keeper.watch(None, Scope.READ, _close, alive(n), address="10.0.0.1")
             for n in range(3)]
    assert all(feeds) and asked == []  # below the cap nothing is scanned
    with pytest.raises(AccessError) as refused:
        keeper.watch(None, Scope.READ, _close, address="10.0.0.1")
    assert refused.value.code == "TOO_MANY_CONNECTIONS"
    assert sorted(asked) == [0, 1, 2]
    states[1] = False  # ended without unwatch: the backstop frees its slot at the cap
    assert keeper.watch(None, Scope.READ, _close, address="10.0.0.1") is not None
    assert keeper.open_feeds("ip:10.0.0.1") == 3
    keeper.unwatch(feeds[0])
    assert keeper.open_feeds("ip:10.0.0.1") == 2
