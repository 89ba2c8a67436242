"""Where an operation's reads go: the one place that picks (schema.root's build_schema runs
this extension on every operation, before any resolver).

A query read over HTTP goes to the read replica (store/read_pool.py: the primary while the
replica lags or is down), unless one of its `sku` or `reservation` fields asks
`consistent: true`; then the whole query reads the primary, nested fields and loaders included.
Mutations (and every field of their payloads), subscriptions (their snapshots and gap fills
must match the ledger sequence they resume from), WebSocket operations and the idempotency
records always read the primary: the Context's `reads` starts there, and only this changes it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_operation_ast,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

HINTED = frozenset({"sku", "reservation"})  # the fields that take `consistent`
HINT = "consistent"


class ReadRouting(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        found = self.execution_context
        context = found.context
        if (
            context is not None  # execute_sync without one (tests, the CLI)
            and found.graphql_document is not None
            and found.operation_type is OperationType.QUERY
            and not asks_primary(found.graphql_document, found.operation_name,
                                 found.variables or {})
        ):
            context.may_be_stale = True  # the read model may answer (resolvers/context.py)
            stale = getattr(context, "stale_reads", None)
            if stale is not None:
                context.reads = stale
        yield


def asks_primary(
    document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any]
) -> bool:
    """Whether a root field of the operation is `sku` or `reservation` with `consistent`
    true (a literal, or a variable that is true)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return False
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    given = {d.variable.name.value: value_from_ast_untyped(d.default_value)
             for d in operation.variable_definitions or () if d.default_value is not None}
    given.update(variables)
    return any(_hinted(field, given) for field in _root_fields(operation, fragments))


def _root_fields(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> Iterator[FieldNode]:
    pending: list[SelectionSetNode] = [operation.selection_set]
    seen: set[str] = set()
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    pending.append(fragments[name].selection_set)


def _hinted(field: FieldNode, variables: Mapping[str, Any]) -> bool:
    if field.name.value not in HINTED:
        return False
    for argument in field.arguments or ():
        if argument.name.value != HINT:
            continue
        value = argument.value
        if isinstance(value, BooleanValueNode):
            return value.value
        if isinstance(value, VariableNode):
            return variables.get(value.name.value) is True
    return False
