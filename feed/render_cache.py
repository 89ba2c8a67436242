"""What every local subscriber of one event is sent, built once per key (a bounded LRU):
StockFeed.shared, used by resolvers/subscriptions.py (see schema/execution.py)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

SIZE = 4096
T = TypeVar("T")


class RenderCache:
    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        """The object kept for `key`, made with `build()` if there is none."""
        found = self._entries.get(key)
        if found is None:
            found = self._entries[key] = build()
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return cast(T, found)
