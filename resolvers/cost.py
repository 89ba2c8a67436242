"""The static cost of a validated GraphQL document: how many objects it can make the server
build, known before anything runs (resolvers.limits' QueryLimits calls `cost` at validation).

The rule, as GitHub's and Shopify's: a leaf field costs 0; an object field costs 1 plus its
selection; a list field multiplies that by the number of items it can return. The sizes:
`skus(first)` for its `edges` (default 50, at most MAX_PAGE), `stockEvents(first)` (default
100, at most MAX_EVENTS), `skusByCode(codes)` its number of codes, `Sku.levels` and `locations`
`levels_per_sku` (the number of locations is not bounded by the schema; one with `location:`),
as are `channels` and `Channel.locations`,
`webhookEndpoints` ENDPOINTS_COUNTED, `WebhookEndpoint.deliveries(first)` (default 50, at most
MAX_DELIVERIES), `incoming(first)` (default 100, at most MAX_INCOMING), `transfers(first)`
(default 100, at most MAX_TRANSFERS) and `Transfer.lines` LINES_COUNTED, every other list
(userErrors, a cart's reservations, a bulk call's results: BULK_MAX_LINES bounds those) one.
Sizes come from literals or from the request's variables (so `first: $n` costs what `$n`
asks), clamped to the field's own maximum (past it the resolver refuses anyway). Fragments cost
what they select, once per spread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
)
from graphql.language import IntValueNode

from resolvers.incoming import MAX_INCOMING
from resolvers.queries import MAX_CODES, MAX_EVENTS, MAX_PAGE
from resolvers.transfers import MAX_TRANSFERS
from resolvers.webhooks import MAX_DELIVERIES

# webhookEndpoints is counted as this many (WEBHOOK_MAX_ENDPOINTS' default; the schema does not
# bound it), so `webhookEndpoints { deliveries(first: 500) }` is refused at the default
# MAX_QUERY_COST: a big page of deliveries is read through webhookEndpoint(id).
ENDPOINTS_COUNTED = 100
# A transfer's lines are bounded by MAX_CART_LINES (default 200), read with the transfer in one
# statement per page; most transfers carry a few, so each is counted as this many, which keeps
# `transfers { lines { sku } }` within the anonymous budget.
LINES_COUNTED = 10


@dataclass(frozen=True, slots=True)
class Cost:
    """`requested`: the static cost; `variable`: whether a variable's value went into it (a
    cost without variables is cached with the document)."""

    requested: int
    variable: bool


class _Walk:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode,
                 variables: Mapping[str, Any] | None, levels_per_sku: int) -> None:
        self.schema = schema
        self.variables = variables or {}
        self.levels_per_sku = levels_per_sku
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self.defaults: dict[str, Any] = {}
        self.variable = False

    def size(self, node: FieldNode, argument: str, default: int, maximum: int) -> int:
        value: ValueNode | None = next(
            (a.value for a in node.arguments or () if a.name.value == argument), None
        )
        found: Any = default
        if isinstance(value, VariableNode):
            self.variable = True
            name = value.name.value
            found = self.variables.get(name, self.defaults.get(name, default))
        elif isinstance(value, IntValueNode):
            found = int(value.value)
        elif isinstance(value, ListValueNode):
            found = len(value.values)
        if isinstance(found, list):
            found = len(found)
        if not isinstance(found, int) or isinstance(found, bool):
            found = default
        return max(0, min(int(found), maximum))

    def given(self, node: FieldNode, argument: str) -> bool:
        """Whether the argument has a value other than null (a variable's, once sent)."""
        value = next((a.value for a in node.arguments or () if a.name.value == argument), None)
        if isinstance(value, VariableNode):
            self.variable = True
            name = value.name.value
            return self.variables.get(name, self.defaults.get(name)) is not None
        return value is not None and not isinstance(value, NullValueNode)

    def multiplier(self, parent: str, node: FieldNode, page: int) -> tuple[int, int]:
        """(this field's item count, the page size its selection inherits)."""
        name = node.name.value
        if parent == "Query" and name == "skus":
            return 1, self.size(node, "first", 50, MAX_PAGE)
        if parent == "Query" and name == "stockEvents":
            return self.size(node, "first", 100, MAX_EVENTS), 1
        if parent == "Query" and name == "skusByCode":
            return self.size(node, "codes", 1, MAX_CODES), 1
        if parent == "Query" and name == "incoming":
            return self.size(node, "first", 100, MAX_INCOMING), 1
        if parent == "Query" and name == "transfers":
            return self.size(node, "first", 100, MAX_TRANSFERS), 1
        if parent == "Transfer" and name == "lines":
            return LINES_COUNTED, 1
        if parent == "Query" and name == "webhookEndpoints":
            return ENDPOINTS_COUNTED, 1
        if parent == "WebhookEndpoint" and name == "deliveries":
            return self.size(node, "first", 50, MAX_DELIVERIES), 1
        if parent == "SkuConnection" and name == "edges":
            return page, 1
        if (parent == "Sku" and name == "levels") or (parent == "Query" and name == "locations"):
            return (1 if self.given(node, "location") else self.levels_per_sku), 1
        if (parent, name) in (("Query", "channels"), ("Channel", "locations")):
            return self.levels_per_sku, 1
        return 1, 1

    def selection(self, selections: SelectionSetNode | None, parent: GraphQLObjectType | None,
                  page: int) -> int:
        """Recursion follows the document's nesting, which the depth limit has bounded;
        validation has refused fragment cycles."""
        total = 0
        for node in selections.selections if selections else ():
            if isinstance(node, FieldNode):
                total += self.field(node, parent, page)
            elif isinstance(node, InlineFragmentNode):
                total += self.selection(node.selection_set, self.named(node, parent), page)
            elif isinstance(node, FragmentSpreadNode):
                fragment = self.fragments.get(node.name.value)
                if fragment is not None:
                    total += self.selection(fragment.selection_set,
                                            self.named(fragment, parent), page)
        return total

    def named(self, node: InlineFragmentNode | FragmentDefinitionNode,
              parent: GraphQLObjectType | None) -> GraphQLObjectType | None:
        if node.type_condition is None:
            return parent
        found = self.schema.get_type(node.type_condition.name.value)
        return found if isinstance(found, GraphQLObjectType) else None

    def field(self, node: FieldNode, parent: GraphQLObjectType | None, page: int) -> int:
        if node.selection_set is None:
            return 0
        definition = parent.fields.get(node.name.value) if parent is not None else None
        child: GraphQLObjectType | None = None
        count, inherited = 1, 1
        if definition is not None and parent is not None:
            named = get_named_type(definition.type)
            child = named if isinstance(named, GraphQLObjectType) else None
            count, inherited = self.multiplier(parent.name, node, page)
            kind = definition.type
            if isinstance(kind, GraphQLNonNull):
                kind = kind.of_type
            if not isinstance(kind, GraphQLList):
                count = 1
        return count * (1 + self.selection(node.selection_set, child, inherited))


def cost(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
         variables: Mapping[str, Any] | None, *, levels_per_sku: int) -> Cost:
    """The cost of the operation that runs (every operation's highest if the name picks none;
    graphql-core then refuses the request anyway)."""
    walk = _Walk(schema, document, variables, levels_per_sku)
    highest = 0
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name is not None and (
            definition.name is None or definition.name.value != operation_name
        ):
            continue
        walk.defaults = {
            v.variable.name.value: _literal(v.default_value)
            for v in definition.variable_definitions or () if v.default_value is not None
        }
        root = schema.get_root_type(definition.operation)
        highest = max(highest, walk.selection(definition.selection_set, root, 1))
    return Cost(highest, walk.variable)


def _literal(value: ValueNode) -> Any:
    if isinstance(value, IntValueNode):
        return int(value.value)
    if isinstance(value, ListValueNode):
        return list(value.values)
    return None
