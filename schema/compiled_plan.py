"""Compiled reads, the plan: made once per query operation that selects only `sku`/`skusByCode`
and Sku, StockLevel and Location fields with known resolvers (run by schema/compiled.py).

The plan is built from graphql-core's own field collection (aliases, fragments, @include and
@skip, merged selections), so its data has the normal path's keys in the normal path's order,
and each leaf is serialized by its GraphQL type. Plans are kept by operation node (documents
are parsed once: resolvers/limits.py's cache) and the values of its directive variables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    OperationDefinitionNode,
)
from graphql.execution.collect_fields import collect_subfields

from domain.model import Sku, StockLevel

INT_MIN, INT_MAX = -(2**31), 2**31 - 1


class Fallback(Exception):
    """Not the plain case: run the operation the normal way."""


T = TypeVar("T")

class Unsupported(Exception):
    """The selection has a field the plan does not know."""


def check_int(value: Any) -> Any:
    if type(value) is not int or not INT_MIN <= value <= INT_MAX:
        raise Fallback
    return value


def _str(value: Any) -> Any:
    if type(value) is not str:
        raise Fallback
    return value


def _bool(value: Any) -> Any:
    if type(value) is not bool:
        raise Fallback
    return value


def _serializer(gql_type: GraphQLOutputType) -> Callable[[Any], Any]:
    """A non-null leaf's serializer: the type's own, fast for the standard scalars."""
    if not isinstance(gql_type, GraphQLNonNull):
        raise Unsupported
    inner = gql_type.of_type
    if isinstance(inner, GraphQLEnumType):
        names: dict[Any, Any] = {}
        serialize_enum = inner.serialize

        def enum(value: Any) -> Any:
            try:
                return names[value]
            except KeyError:
                names[value] = found = serialize_enum(value)
                return found
            except TypeError:
                raise Fallback from None

        return enum
    if not isinstance(inner, GraphQLScalarType):
        raise Unsupported
    standard = {"Int": check_int, "String": _str, "Boolean": _bool}.get(inner.name)
    if standard is not None:
        return standard
    serialize = inner.serialize

    def scalar(value: Any) -> Any:
        if value is None:
            raise Fallback
        return serialize(value)

    return scalar


# What each supported field reads from its domain value (None: the field needs a load)
SKU_FIELDS: dict[str, Callable[[Sku], Any]] = {
    "code": lambda s: s.code, "name": lambda s: s.name,
    "lowStockThreshold": lambda s: s.low_stock_threshold, "onHand": lambda s: s.on_hand,
    "reserved": lambda s: s.reserved, "available": lambda s: s.available,
    "status": lambda s: s.status, "sequence": lambda s: s.sequence,
    "isBundle": lambda s: s.is_bundle,
}
LEVEL_FIELDS: dict[str, Callable[[StockLevel], Any]] = {
    "sku": lambda lv: lv.sku, "onHand": lambda lv: lv.on_hand, "reserved": lambda lv: lv.reserved,
    "safetyStock": lambda lv: lv.safety_stock, "available": lambda lv: lv.available,
    "version": lambda lv: lv.version, "updatedAt": lambda lv: lv.updated_at,
    "incoming": lambda lv: lv.incoming,
}
LOCATION_FIELDS: dict[str, Callable[[Any], Any]] = {
    "code": lambda loc: loc.code, "name": lambda loc: loc.name, "kind": lambda loc: loc.kind,
}
# a leaf: (key, read, serialize); "__typename": (key, None, name)
Leaf = tuple[str, Callable[[Any], Any] | None, Any]


@dataclass(frozen=True, slots=True)
class LevelsPlan:
    key: str
    node: Any
    field: Any
    leaves: list[Leaf]
    location: tuple[str, list[Leaf]] | None  # where `location { ... }` goes among the leaves
    order: list[str]


@dataclass(frozen=True, slots=True)
class SkuPlan:
    leaves: list[Leaf]
    levels: list[LevelsPlan]
    incoming: list[str]  # keys of `incoming` (the levels' sum)
    order: list[str]


@dataclass(frozen=True, slots=True)
class RootField:
    key: str
    name: str  # "sku", "skusByCode" or "__typename"
    node: Any
    field: Any
    sku: SkuPlan | None


def _sub(executor: Any, gql_type: GraphQLObjectType, details: Any) -> Mapping[str, Any]:
    collected = collect_subfields(executor.schema, executor.fragments, executor.variable_values,
                                  executor.operation, gql_type, details)
    if collected.new_defer_usages or collected.forbidden_directive_instances:
        raise Unsupported
    grouped: Mapping[str, Any] = collected.grouped_field_set
    return grouped


def _named(gql_type: GraphQLOutputType) -> Any:
    while isinstance(gql_type, GraphQLNonNull | GraphQLList):
        gql_type = gql_type.of_type
    return gql_type


def _leaves(executor: Any, gql_type: GraphQLObjectType, grouped: Mapping[str, Any],
            reads: Mapping[str, Callable[[Any], Any]], skip: Sequence[str] = ()) -> list[Leaf]:
    leaves: list[Leaf] = []
    for key, details in grouped.items():
        node = details[0].node
        name = node.name.value
        if name in skip:
            continue
        if name == "__typename":
            leaves.append((key, None, gql_type.name))
            continue
        if name not in reads or node.arguments:
            raise Unsupported
        leaves.append((key, reads[name], _serializer(gql_type.fields[name].type)))
    return leaves


def _levels_plan(executor: Any, sku_type: GraphQLObjectType, key: str, details: Any) -> LevelsPlan:
    field = sku_type.fields["levels"]
    level_type = _named(field.type)
    grouped = _sub(executor, level_type, details)
    leaves = _leaves(executor, level_type, grouped, LEVEL_FIELDS, skip=("location",))
    location = None
    for sub_key, sub_details in grouped.items():
        if sub_details[0].node.name.value == "location":
            location_type = _named(level_type.fields["location"].type)
            location = (sub_key, _leaves(executor, location_type,
                                         _sub(executor, location_type, sub_details),
                                         LOCATION_FIELDS))
    return LevelsPlan(key, details[0].node, field, leaves, location, list(grouped))


def _sku_plan(executor: Any, sku_type: GraphQLObjectType, details: Any) -> SkuPlan:
    grouped = _sub(executor, sku_type, details)
    levels: list[LevelsPlan] = []
    incoming: list[str] = []
    for key, sub in grouped.items():
        node = sub[0].node
        if node.name.value == "levels":
            levels.append(_levels_plan(executor, sku_type, key, sub))
        elif node.name.value == "incoming":
            incoming.append(key)
    leaves = _leaves(executor, sku_type, grouped, SKU_FIELDS, skip=("levels", "incoming"))
    return SkuPlan(leaves, levels, incoming, list(grouped))


def compile_root(executor: Any, root_type: GraphQLObjectType,
                 grouped: Mapping[str, Any]) -> list[RootField]:
    """The plan of a query's root fields; Unsupported if any field is not a known read."""
    plan: list[RootField] = []
    for key, details in grouped.items():
        if any(d.defer_usage is not None or d.fragment_variable_values for d in details):
            raise Unsupported
        node = details[0].node
        name = node.name.value
        if name == "__typename":
            plan.append(RootField(key, root_type.name, node, None, None))
            continue
        if name not in ("sku", "skusByCode"):
            raise Unsupported
        field = root_type.fields[name]
        plan.append(RootField(key, name, node, field,
                              _sku_plan(executor, _named(field.type), details)))
    return plan


def planned(names: tuple[str, ...], plans: dict[Any, T | None], coerced: Mapping[str, Any],
            build: Callable[[], T], *scope: object) -> T | None:
    """The plan for these values of the variables `names` (those directives read), built once
    by `build` and kept in `plans`; None when it cannot be compiled or a value is unhashable."""
    try:
        key = (*scope, *(coerced.get(name) for name in names))
        hash(key)
    except TypeError:
        return None
    if key not in plans:
        try:
            plans[key] = build()
        except Unsupported:
            plans[key] = None
    return plans[key]


def directive_variables(operation: OperationDefinitionNode, fragments: Mapping[str, Any]) -> tuple[
        str, ...]:
    """Variables an @include or @skip reads: a plan is made per their values."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        for directive in getattr(node, "directives", None) or ():
            for argument in directive.arguments or ():
                if argument.value.kind == "variable":
                    found.add(argument.value.name.value)
        selection_set = getattr(node, "selection_set", None)
        for selection in selection_set.selections if selection_set else ():
            walk(selection)

    walk(operation)
    for fragment in fragments.values():
        walk(getattr(fragment, "definition", fragment))
    return tuple(sorted(found))


class Plans:
    """Plans by operation and directive variables; None for one the plan cannot answer."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._plans: dict[int, tuple[Any, tuple[str, ...], dict[Any, list[RootField] | None]]] = {}

    def get(self, executor: Any, root_type: GraphQLObjectType,
            grouped: Mapping[str, Any]) -> list[RootField] | None:
        operation = executor.operation
        found = self._plans.get(id(operation))
        if found is None or found[0] is not operation:
            if len(self._plans) >= self.size:
                self._plans.pop(next(iter(self._plans)))
            found = (operation, directive_variables(operation, executor.fragment_definitions), {})
            self._plans[id(operation)] = found
        return planned(found[1], found[2], executor.variable_values.coerced,
                       lambda: compile_root(executor, root_type, grouped))
