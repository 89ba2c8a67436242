"""What one GraphQL document may ask for: tokens, depth, aliases, and whether it may introspect
(limit_extensions: bootstrap/app.py hands them to schema.root's build_schema).

Depth counts the fields on the longest chain, leaf included (`{ sku { code } }` is 2), and,
unlike Strawberry's QueryDepthLimiter, introspection fields count too. The query the bundled
GraphiQL sends (graphql-js 16.9, nine `ofType` levels) is 15 deep. graphql-core's own
MaxIntrospectionDepthRule already refuses `types { fields { type { fields ...` fan-out.

Depth, aliases and introspection are checked before graphql-core's validation (one linear
walk; fragments are measured once each, however often spread).

The static cost (resolvers.cost) is checked after validation, before execution, against
MAX_QUERY_COST (MAX_QUERY_COST_ANONYMOUS without a key) and reported in `extensions.cost` of
every query and mutation. Parsing, validation and costs without variables are cached here
(DocumentCache: an LRU keyed by the text and the token limit), as the token limit must be in
force when a text is first parsed and clients send the same few documents over and over
(BENCHMARKS.md). A text that does not parse is left uncached to Strawberry's own parse, so its
syntax error keeps the usual path and code.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension

from compat.strawberry import core_schema, validate_document
from resolvers.cost import cost

QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"
INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


@dataclass(frozen=True)
class Shape:
    depth: int = 0
    aliases: int = 0
    introspects: bool = False

    def beside(self, other: Shape) -> Shape:
        return Shape(
            max(self.depth, other.depth), self.aliases + other.aliases,
            self.introspects or other.introspects,
        )


def _shape(selections: SelectionSetNode | None, fragments: dict[str, Shape]) -> Shape:
    """Recursion follows the document's own nesting, which graphql-core's parser bounds."""
    total = Shape()
    for node in selections.selections if selections else ():
        if isinstance(node, FragmentSpreadNode):
            inner = fragments.get(node.name.value, Shape())
        elif isinstance(node, InlineFragmentNode):
            inner = _shape(node.selection_set, fragments)
        elif isinstance(node, FieldNode):
            below = _shape(node.selection_set, fragments)
            inner = Shape(
                below.depth + 1, below.aliases + (node.alias is not None),
                below.introspects or node.name.value in INTROSPECTION_FIELDS,
            )
        total = total.beside(inner)
    return total


def _spreads(selections: SelectionSetNode | None) -> Iterator[str]:
    for node in selections.selections if selections else ():
        if isinstance(node, FragmentSpreadNode):
            yield node.name.value
        elif isinstance(node, FieldNode | InlineFragmentNode):
            yield from _spreads(node.selection_set)


def _fragment_shapes(definitions: dict[str, FragmentDefinitionNode]) -> dict[str, Shape]:
    """Each fragment after the fragments it spreads, depth first with an explicit stack
    (a chain of fragments is as long as the document allows). A spread that closes a cycle
    counts as empty; graphql-core's NoFragmentCyclesRule reports the cycle."""
    shapes: dict[str, Shape] = {}
    for root in definitions:
        if root in shapes:
            continue
        stack = [(root, _spreads(definitions[root].selection_set))]
        path = {root}
        while stack:
            name, spreads = stack[-1]
            child = next((s for s in spreads
                          if s in definitions and s not in shapes and s not in path), None)
            if child is not None:
                stack.append((child, _spreads(definitions[child].selection_set)))
                path.add(child)
                continue
            stack.pop()
            path.discard(name)
            shapes[name] = _shape(definitions[name].selection_set, shapes)
    return shapes


def measure(document: DocumentNode) -> Shape:
    """Depth is the deepest operation's; aliases are summed over every operation, a
    fragment counting once per spread."""
    definitions = {d.name.value: d for d in document.definitions
                   if isinstance(d, FragmentDefinitionNode)}
    fragments = _fragment_shapes(definitions)
    total = Shape()
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            total = total.beside(_shape(definition.selection_set, fragments))
    return total


def _too_complex(message: str, limit: str, maximum: int) -> GraphQLError:
    return GraphQLError(
        message, extensions={"code": QUERY_TOO_COMPLEX, "limit": limit, "maximum": maximum}
    )


def refusal(shape: Shape, *, max_depth: int, max_aliases: int,
            introspection: bool) -> GraphQLError | None:
    if shape.depth > max_depth:
        return _too_complex(
            f"Query is {shape.depth} fields deep; the limit is {max_depth}.", "depth", max_depth
        )
    if shape.aliases > max_aliases:
        return _too_complex(
            f"Query uses {shape.aliases} aliases; the limit is {max_aliases}.",
            "aliases", max_aliases,
        )
    if shape.introspects and not introspection:
        return GraphQLError("Introspection is disabled on this server.",
                            extensions={"code": INTROSPECTION_DISABLED})
    return None


@dataclass(slots=True)
class Prepared:
    """A parsed document, its shape, and graphql-core's validation of it per rule set."""

    document: DocumentNode
    shape: Shape
    weight: int
    validated: dict[tuple[type[ASTValidationRule], ...], list[GraphQLError]] = field(
        default_factory=dict
    )
    costs: dict[tuple[str | None, int], int] = field(default_factory=dict)


class DocumentCache:
    """An LRU of prepared documents bounded by the total length of their texts: a parsed
    document with locations weighs many times its text (BENCHMARKS.md), so counting entries
    alone would let a few hundred large distinct documents pin a lot of memory."""

    def __init__(self, *, max_text_bytes: int = 256 * 1024, max_entry_bytes: int = 16 * 1024,
                 max_entries: int = 1024) -> None:
        self.max_text_bytes = max_text_bytes
        self.max_entry_bytes = max_entry_bytes
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, int], Prepared] = OrderedDict()
        self._weight = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, text: str, max_tokens: int) -> Prepared:
        """Raises GraphQLSyntaxError (uncached) for a text that does not parse."""
        key = (text, max_tokens)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            return entry
        document = parse(text, max_tokens=max_tokens)
        entry = Prepared(document, measure(document), len(text))
        if entry.weight <= self.max_entry_bytes:
            self._entries[key] = entry
            self._weight += entry.weight
            while self._weight > self.max_text_bytes or len(self._entries) > self.max_entries:
                _, dropped = self._entries.popitem(last=False)
                self._weight -= dropped.weight
        return entry


DOCUMENTS = DocumentCache()


@dataclass(frozen=True)
class CostLimits:
    """MAX_QUERY_COST, MAX_QUERY_COST_ANONYMOUS (0: unlimited), COST_LEVELS_PER_SKU."""

    maximum: int = 0
    anonymous: int = 0
    levels_per_sku: int = 10


class QueryLimits(SchemaExtension):
    def __init__(self, *, max_depth: int, max_aliases: int, max_tokens: int,
                 introspection: bool, costs: CostLimits = CostLimits()) -> None:
        self.max_depth = max_depth
        self.max_aliases = max_aliases
        self.max_tokens = max_tokens
        self.introspection = introspection
        self.costs = costs
        self._prepared: Prepared | None = None
        self._cost: dict[str, int] | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self.max_tokens
        if context.graphql_document is None and context.query:
            try:
                self._prepared = DOCUMENTS.get(context.query, self.max_tokens)
            except GraphQLSyntaxError:
                pass  # Strawberry parses it again and reports the error (tagged below)
            else:
                context.graphql_document = self._prepared.document
        yield
        for error in self.execution_context.pre_execution_errors or ():
            if isinstance(error, GraphQLSyntaxError) and "tokens. Parsing aborted" in error.message:
                error.extensions = {
                    "code": QUERY_TOO_COMPLEX, "limit": "tokens", "maximum": self.max_tokens,
                }

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        prepared = self._prepared
        if context.graphql_document is not None and not context.pre_execution_errors:
            error = refusal(
                measure(context.graphql_document) if prepared is None else prepared.shape,
                max_depth=self.max_depth, max_aliases=self.max_aliases,
                introspection=self.introspection,
            )
            if error is not None:
                # Strawberry then skips graphql-core's validation and answers with this error.
                context.pre_execution_errors = [error]
            else:
                rules = context.validation_rules
                errors = prepared.validated.get(rules) if prepared is not None else None
                if errors is None:
                    errors = validate_document(
                        core_schema(context.schema), context.graphql_document, rules
                    )
                    if prepared is not None:
                        prepared.validated[rules] = errors
                # a list (even empty) tells Strawberry validation has run
                context.pre_execution_errors = errors or self._over_budget(
                    context.graphql_document, prepared)
        yield

    def _over_budget(self, document: DocumentNode, prepared: Prepared | None) -> list[GraphQLError]:
        """[] or the refusal of a valid document that costs more than the caller may spend."""
        context = self.execution_context
        anonymous = getattr(context.context, "principal", None) is None
        maximum = self.costs.anonymous if anonymous else self.costs.maximum
        key = (context.operation_name, self.costs.levels_per_sku)
        requested = prepared.costs.get(key) if prepared is not None else None
        if requested is None:
            found = cost(core_schema(context.schema), document, context.operation_name,
                         context.variables, levels_per_sku=self.costs.levels_per_sku)
            requested = found.requested
            if prepared is not None and not found.variable:
                prepared.costs[key] = requested
        if context.operation_type.value != "subscription":
            self._cost = {"requestedQueryCost": requested, "maximumQueryCost": maximum}
        if maximum <= 0 or requested <= maximum:
            return []
        return [GraphQLError(
            f"Query costs {requested}; the limit is {maximum}"
            f"{' without an API key' if anonymous else ''}.",
            extensions={"code": QUERY_TOO_COMPLEX, "limit": "cost", "maximum": maximum,
                        "cost": requested})]

    def get_results(self) -> dict[str, Any]:
        return {"cost": self._cost} if self._cost is not None else {}


def limit_extensions(*, max_depth: int, max_aliases: int, max_tokens: int,
                     introspection: bool, costs: CostLimits = CostLimits(),
                     ) -> list[Callable[[], SchemaExtension]]:
    """For `strawberry.Schema(extensions=[*limit_extensions(...), ...])`: factories, so
    that every operation gets its own extension instance."""
    return [functools.partial(
        QueryLimits, max_depth=max_depth, max_aliases=max_aliases, max_tokens=max_tokens,
        introspection=introspection, costs=costs,
    )]
