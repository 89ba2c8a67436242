"""Compiled holds, the resolvers: the hold mutations with less per-call machinery (schema/root.py
installs them with COMPILED_HOLDS on; schema/compiled_payloads.py renders their payloads).

Each hold field's resolver runs the field's own permission classes, builds its input dataclass
from graphql-core's coerced arguments (what Strawberry's convert_arguments builds, without
resolving annotations per call) and calls the field's own resolver. A permission that answers
False, or an input that is not plain scalars (reserveLines'), goes to Strawberry's own
resolver. Errors are raised into graphql-core as before, so their bytes do not change.

Rate limits, cost limits, idempotency, logging, metrics and tracing sit outside and run as
before. tests/api/test_compiled_holds.py compares the bytes with the normal path's over every
hold document shape the suite sends, and sees every refusal still refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import strawberry
from graphql import GraphQLField, GraphQLResolveInfo
from strawberry.permission import PermissionExtension
from strawberry.types.base import StrawberryOptional

from compat.strawberry import core_schema, has_exception_handlers

HOLD_FIELDS = ("reserve", "reserveLines", "extendReservation", "commitReservation",
               "releaseReservation")
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
