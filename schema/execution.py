"""Work around a memory leak of graphql-core 3.3.1/3.3.2 in subscriptions.

Each event of a subscription runs on a shallow copy of the subscription's executor, so the
copies share its `_relevant_sub_fields` memo, keyed by the id of a list built anew for every
event: one entry per event and object field, kept until the subscription ends (about 1.5-1.9
KB per delivered event). A fresh memo per event keeps caching within the event and frees it
after. tests/api/test_subscription_memory.py fails if this stops working.
"""

from __future__ import annotations

from typing import Any

from graphql.pyutils import RefMap
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class PerEventMemoExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        executor._stream_usages = RefMap()
        return executor
