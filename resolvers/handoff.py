"""Handoff, yielded by resolvers/subscriptions.py for its transport to take over the live
events (read by schema/execution.py and web/websocket.py), and the shared-result mark.

SHARED_RESULTS marks an event payload whose result every local subscriber shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SHARED_RESULTS = "shared_results"


class Handoff(dict[str, Any]):
    """A subscription's feed.follower.Follow and how to make an event's root value; the
    subscription's executor (schema.execution.PerEventMemoExecutionContext) is filled in on the
    way out. A dict so that execution passes it through as the result's `data`."""

    def __init__(self, kind: str, follow: Any, payload: Callable[[Any], Any]) -> None:
        super().__init__()
        self.kind = kind
        self.follow = follow
        self.payload = payload
        self.executor: Any = None

    def __bool__(self) -> bool:
        return True
