"""graphql-core 3.3.2's executor memo, reset per subscription event by schema/execution.py.

Each event of a subscription runs on a shallow copy of the subscription's executor; the copies
share `_relevant_sub_fields` (keyed by the id of a list built anew per event) and
`_stream_usages`, so both grow by one entry per event until the subscription ends. Guarded by
tests/integration/test_subscription_memory.py.
"""

from __future__ import annotations

from typing import Any

from graphql.pyutils import RefMap


def fresh_memo(executor: Any) -> None:
    """Gives a per-event executor memos of its own, freed with it after the event."""
    executor._relevant_sub_fields = {}
    executor._stream_usages = RefMap()
