"""Compiled holds, the payloads: rendered from a plan of plain fields instead of graphql-core's
per-field completion (schema/execution.py mixes HoldPayloads in with COMPILED_HOLDS on).

A plain field has no resolver and no argument; the resolvers are schema/compiled_holds.py's.

Any other selection (a `location { ... }`, which has a resolver), or a value the plan does not
expect, is completed the normal way: completing changes nothing, so that is always safe. The
plan is built from graphql-core's own field collection (aliases, fragments, @include and @skip,
merged selections) and each leaf is serialized by its GraphQL type, so the data has the normal
path's keys, order and values; tests/api/test_compiled_holds.py compares the bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    Undefined,
)
from graphql.execution.collect_fields import collect_subfields

from compat.strawberry import StrawberryGraphQLCoreExecutionContext
from ops.metrics import COMPILED_HOLDS
from schema.compiled_holds import BACKREF
from schema.compiled_plan import (
    INT_MAX,
    INT_MIN,
    Fallback,
    Unsupported,
    directive_variables,
    planned,
)

PAYLOADS = frozenset({"ReservePayload", "ReserveLinesPayload", "ExtendReservationPayload",
                      "CommitReservationPayload", "ReleaseReservationPayload"})

Complete = Callable[[Any], Any]


def _leaf(gql_type: GraphQLScalarType | GraphQLEnumType) -> Complete:
    serialize = gql_type.serialize
    fast: type | None = {"String": str, "ID": str, "Boolean": bool, "Int": int}.get(gql_type.name)

    def leaf(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is fast and (fast is not int or INT_MIN <= value <= INT_MAX):  # type: ignore[operator]
            return value
        try:
            found = serialize(value)
        except Exception:
            raise Fallback from None
        if found is None or found is Undefined:
            raise Fallback
        return found

    return leaf


def _complete(executor: Any, gql_type: GraphQLOutputType, details: Any) -> Complete:
    if isinstance(gql_type, GraphQLNonNull):
        inner = _complete(executor, gql_type.of_type, details)

        def non_null(value: Any) -> Any:
            found = inner(value)
            if found is None:
                raise Fallback
            return found

        return non_null
    if isinstance(gql_type, GraphQLList):
        item = _complete(executor, gql_type.of_type, details)

        def many(value: Any) -> Any:
            if value is None:
                return None
            if not isinstance(value, list | tuple):
                raise Fallback
            return [item(one) for one in value]

        return many
    if isinstance(gql_type, GraphQLScalarType | GraphQLEnumType):
        return _leaf(gql_type)
    if isinstance(gql_type, GraphQLObjectType):
        return _object(executor, gql_type, details)
    raise Unsupported


def _object(executor: Any, gql_type: GraphQLObjectType, details: Any) -> Complete:
    definition = (gql_type.extensions or {}).get(BACKREF)
    if definition is None:
        raise Unsupported
    cls = definition.origin
    collected = collect_subfields(executor.schema, executor.fragments, executor.variable_values,
                                  executor.operation, gql_type, details)
    if collected.new_defer_usages or collected.forbidden_directive_instances:
        raise Unsupported
    fields: list[tuple[str, str | None, Any]] = []
    for key, sub in collected.grouped_field_set.items():
        node = sub[0].node
        name = node.name.value
        if name == "__typename":
            fields.append((key, None, gql_type.name))
            continue
        graphql_field = gql_type.fields.get(name)
        field = (graphql_field.extensions or {}).get(BACKREF) if graphql_field else None
        if field is None or not field.is_basic_field or node.arguments or any(
                d.defer_usage is not None or d.fragment_variable_values for d in sub):
            raise Unsupported
        assert graphql_field is not None
        fields.append((key, field.python_name, _complete(executor, graphql_field.type, sub)))

    def complete(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, cls):
            raise Fallback
        return {key: complete if attribute is None else complete(getattr(value, attribute))
                for key, attribute, complete in fields}

    return complete


class HoldPayloads(StrawberryGraphQLCoreExecutionContext):
    """Renders a hold mutation's payload from a plan (the module's docstring)."""

    hold_plans: dict[int, tuple[Any, tuple[str, ...], dict[Any, Complete | None]]] = {}

    def _plan(self, return_type: GraphQLOutputType, details: Any) -> Complete | None:
        node = details[0].node
        plans = HoldPayloads.hold_plans
        found = plans.get(id(node))
        if found is None or found[0] is not node:
            if len(plans) >= 512:
                plans.pop(next(iter(plans)))
            found = (node, directive_variables(self.operation, self.fragment_definitions), {})
            plans[id(node)] = found
        return planned(found[1], found[2], getattr(self.variable_values, "coerced", {}),
                       lambda: _complete(self, return_type, details), id(self.operation))

    def complete_value(self, return_type: GraphQLOutputType, field_details_list: Any,
                       info: GraphQLResolveInfo[Any], path: Any, result: Any,
                       position_context: Any) -> Any:
        if (isinstance(return_type, GraphQLNonNull)
                and info.parent_type is self.schema.mutation_type
                and getattr(return_type.of_type, "name", None) in PAYLOADS):
            plan = self._plan(return_type, field_details_list)
            if plan is not None:
                try:
                    data = plan(result)
                except Fallback:
                    COMPILED_HOLDS.labels("fallback").inc()
                else:
                    COMPILED_HOLDS.labels("compiled").inc()
                    return data
        return super().complete_value(return_type, field_details_list, info, path, result,
                                      position_context)
