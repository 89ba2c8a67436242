"""Compiled holds: reserve, reserveLines, extendReservation, commitReservation and
releaseReservation with less per-call machinery (schema/root.py installs it when
COMPILED_HOLDS is on).

Two parts, each the normal path's own steps in fewer calls:
- `install`: each hold field's resolver runs the field's own permission classes, builds its
  input dataclass from graphql-core's coerced arguments (what Strawberry's convert_arguments
  builds, without resolving annotations per call) and calls the field's own resolver. A
  permission that answers False, or an input that is not plain scalars, goes to Strawberry's
  own resolver. Errors are raised into graphql-core as before, so their bytes do not change.
- `HoldPayloads.complete_value`: the payload is rendered from a plan of plain fields (no
  resolver, no argument) instead of graphql-core's per-field completion; any other selection,
  or a value the plan does not expect, is completed the normal way (completing changes
  nothing, so that is always safe).

Rate limits, cost limits, idempotency, logging, metrics and tracing sit outside both parts and
run as before. tests/api/test_compiled_holds.py compares the bytes with the normal path's over
every hold document shape the suite sends, and sees every refusal still refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    Undefined,
)
from graphql.execution.collect_fields import collect_subfields
from strawberry.permission import PermissionExtension
from strawberry.types.base import StrawberryOptional

from compat.strawberry import (
    StrawberryGraphQLCoreExecutionContext,
    core_schema,
    has_exception_handlers,
)
from ops.metrics import COMPILED_HOLDS
from schema.compiled_plan import INT_MAX, INT_MIN, Fallback, Unsupported, directive_variables

HOLD_FIELDS = ("reserve", "reserveLines", "extendReservation", "commitReservation",
               "releaseReservation")
PAYLOADS = frozenset({"ReservePayload", "ReserveLinesPayload", "ExtendReservationPayload",
                      "CommitReservationPayload", "ReleaseReservationPayload"})
BACKREF = "strawberry-definition"  # where Strawberry keeps a GraphQL type's definition
_LEAVES = (str, int, bool, float, strawberry.ID)


def _input_builder(argument_type: Any, config: Any) -> Callable[[Mapping[str, Any]], Any] | None:
    """What convert_argument makes of an input object whose fields are plain scalars."""
    definition = getattr(argument_type, "__strawberry_definition__", None)
    if definition is None or not definition.is_input or definition.from_input is not None:
        return None
    names: list[tuple[str, str]] = []
    implicit: dict[str, Any] = {}
    for field in definition.fields:
        field_type = field.resolve_type(type_definition=definition)
        if isinstance(field_type, StrawberryOptional):
            field_type = field_type.of_type
        if field_type not in _LEAVES:
            return None
        names.append((config.name_converter.from_field(field), field.python_name))
        if field.default_value is dataclasses.MISSING and (
                field.default_factory is dataclasses.MISSING):
            implicit[field.python_name] = None

    def build(value: Mapping[str, Any]) -> Any:
        kwargs = dict(implicit)
        for graphql_name, python_name in names:
            if graphql_name in value:
                kwargs[python_name] = value[graphql_name]
        return argument_type(**kwargs)

    return build


def _direct(field: Any, original: Callable[..., Any], config: Any) -> Callable[..., Any] | None:
    permissions: list[Any] = []
    for extension in field.extensions:
        if type(extension) is not PermissionExtension or extension.fail_silently:
            return None
        permissions.extend(extension.permissions)
    arguments, resolver = field.arguments, field.base_resolver
    if (len(arguments) != 1 or resolver is None or resolver.info_parameter is None
            or not field.is_async):
        return None
    info_name = resolver.info_parameter.name
    build = _input_builder(arguments[0].type, config)
    if build is None:
        return None
    graphql_name = config.name_converter.from_argument(arguments[0])
    python_name = arguments[0].python_name
    info_class = config.info_class

    async def resolve(source: Any, info: GraphQLResolveInfo[Any], **kwargs: Any) -> Any:
        value = kwargs.get(graphql_name)
        if set(kwargs) != {graphql_name} or not isinstance(value, Mapping):
            return await original(source, info, **kwargs)
        strawberry_info = info_class(_raw_info=info, _field=field)
        for permission in permissions:  # each raises its own GraphQL error, as on the full path
            if permission.has_permission(source, strawberry_info, **kwargs) is not True:
                return await original(source, info, **kwargs)  # Strawberry refuses it
        return await field.get_result(source, info=strawberry_info, args=[], kwargs={
            info_name: strawberry_info, python_name: build(value)})

    return resolve


def install(schema: strawberry.Schema) -> None:
    """The hold fields' resolvers, direct where `_direct` can stand in for Strawberry's."""
    mutation = core_schema(schema).mutation_type
    assert mutation is not None
    if has_exception_handlers(schema):  # Strawberry's resolver would apply them
        return
    for name in HOLD_FIELDS:
        graphql_field: GraphQLField = mutation.fields[name]
        field = (graphql_field.extensions or {}).get(BACKREF)
        if field is None or graphql_field.resolve is None:
            continue
        direct = _direct(field, graphql_field.resolve, schema.config)
        if direct is not None:
            graphql_field.resolve = direct


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
        coerced = getattr(self.variable_values, "coerced", {})
        try:
            key = (id(self.operation), *(coerced.get(name) for name in found[1]))
            hash(key)
        except TypeError:
            return None
        if key not in found[2]:
            try:
                found[2][key] = _complete(self, return_type, details)
            except Unsupported:
                found[2][key] = None
        return found[2][key]

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
