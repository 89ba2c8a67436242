"""Subscription execution (schema/root.py installs it): a memory-leak workaround for
graphql-core 3.3.1/3.3.2, and one execution per event and query shape for every subscriber.

Leak: each event of a subscription runs on a shallow copy of the subscription's executor, so
the copies share its memo, one entry per event and object field, kept until the subscription
ends. A fresh memo per event (compat/graphql_core.py) keeps caching within the event and frees
it after. tests/integration/test_subscription_memory.py fails if this stops working.

Sharing: payloads that carry a `shared_results` dict (see resolvers/subscriptions.py: one
payload object per SKU event, handed to all its subscribers) get executed once per distinct
operation and variables; every other subscriber of the same shape reuses that result. The
fields of a subscription event depend only on the event, not on who asked.

Compiled reads: CompiledReads answers the query operations schema/compiled.py has a plan for
without graphql-core's per-field execution, and everything else (and whatever the plan does
not answer plainly) the normal way.

Compiled holds: the hold mutations' payloads rendered from a plan (schema/compiled_payloads.py).

Handoff: a subscription resolver may yield a `resolvers.handoff.Handoff` when its transport can
deliver the live events itself (web/websocket.py). It leaves execution as the result's `data`,
carrying the subscription's executor, with which the transport then executes each event.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from graphql import ExecutionResult, GraphQLObjectType, OperationType

from compat.graphql_core import fresh_memo
from compat.strawberry import StrawberryGraphQLCoreExecutionContext
from ops.metrics import COMPILED_READS
from resolvers.handoff import SHARED_RESULTS, Handoff
from schema import compiled, compiled_plan
from schema.compiled_payloads import HoldPayloads


def _shape(executor: Any) -> tuple[Any, ...]:
    variables = getattr(executor.variable_values, "coerced", executor.variable_values)
    return (
        executor.operation,
        tuple(sorted(executor.fragment_definitions.items())),
        json.dumps(variables, sort_keys=True, default=str),
    )


class PerEventMemoExecutionContext(StrawberryGraphQLCoreExecutionContext):
    _share_key: tuple[Any, ...] | None = None
    _per_event = False

    def build_per_event_executor(self, payload: Any) -> Any:
        if isinstance(payload, Handoff):
            payload.executor = self
        if self._share_key is None:
            self._share_key = _shape(self)
        executor = super().build_per_event_executor(payload)
        fresh_memo(executor)
        executor._per_event = True  # type: ignore[attr-defined]
        return executor

    def execute_operation(self, serially: bool | None = None) -> Any:
        if isinstance(self.root_value, Handoff):
            return ExecutionResult(self.root_value, None)
        shared: dict[Any, Any] | None = getattr(self.root_value, SHARED_RESULTS, None)
        if not self._per_event or shared is None:
            return super().execute_operation(serially)
        key = self._share_key
        if key not in shared:
            result = super().execute_operation(serially)
            shared[key] = asyncio.ensure_future(result) if self.is_awaitable(result) else result
        found = shared[key]
        return asyncio.shield(found) if isinstance(found, asyncio.Future) else found


class CompiledReads(PerEventMemoExecutionContext):
    plans: compiled_plan.Plans | None = None

    def execute_collected_root_fields(
        self, root_type: GraphQLObjectType, root_value: Any, grouped_field_set: Any,
        serially: bool, new_defer_usages: Any,
    ) -> Any:
        def normal() -> Any:
            return super(CompiledReads, self).execute_collected_root_fields(
                root_type, root_value, grouped_field_set, serially, new_defer_usages)

        if self.operation.operation is not OperationType.QUERY or new_defer_usages:
            return normal()
        plans = CompiledReads.plans
        if plans is None:
            plans = CompiledReads.plans = compiled_plan.Plans()
        plan = plans.get(self, root_type, grouped_field_set)
        if plan is None:
            return normal()
        return self._run(plan, normal)

    async def _run(self, plan: list[compiled_plan.RootField], normal: Any) -> Any:
        try:
            data = await compiled.execute(plan, self)
        except Exception:  # Fallback, or a failure (a lost database) the normal path reports
            COMPILED_READS.labels("fallback").inc()
        else:
            COMPILED_READS.labels("compiled").inc()
            return data
        result = normal()
        return await result if self.is_awaitable(result) else result


class CompiledHolds(HoldPayloads, PerEventMemoExecutionContext):
    pass


class CompiledReadsAndHolds(HoldPayloads, CompiledReads):
    pass


def execution_context(*, reads: bool, holds: bool) -> type[PerEventMemoExecutionContext]:
    """The execution context for the compiled paths that are on."""
    if holds:
        return CompiledReadsAndHolds if reads else CompiledHolds
    return CompiledReads if reads else PerEventMemoExecutionContext
