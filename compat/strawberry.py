"""Strawberry 0.341's internals, reached by web/websocket.py (the WebSocket handlers and the
relay), web/ws_legacy.py, schema/execution.py (the execution context) and resolvers/limits.py.

Besides the names below, the handler subclasses rely on these members of the 0.341 base
classes: `operations`, `connection_init_timeout_task`, `on_request_accepted`,
`handle_invalid_message`, `handle_task_exception`, `_handle_pre_execution_error`,
`_reject_incremental_delivery`, `cleanup_operation`, and `Operation.completed/.task/.query/
.variables/.operation_name`. Guarded by tests/api/test_relay.py, tests/api/test_subscriptions.py,
tests/api/test_hostile.py and tests/integration/test_subscription_memory.py.

schema/compiled_holds.py reads the graphql-core field's Strawberry definition under
`extensions["strawberry-definition"]` and asks `has_exception_handlers`. Guarded by
tests/unit/test_compiled_holds_input.py.

`cache_extension_hooks` replaces `ExtensionContextManagerBase.get_hook`, which found each
extension's hook anew for every operation and stage (wrapping it with `functools.wraps` each
time: ~3.5 % of a hot-SKU reserve's samples), by one that finds a class's hook once. Guarded
by tests/unit/test_extension_hooks.py.

resolvers/limits.py validates a cached document itself, as Strawberry's `_run_validation` would
(`validate_document` on the graphql-core schema, `core_schema`), and relies on that step being
skipped when an extension has set `pre_execution_errors` to a list. Guarded by
tests/api/test_limits.py and tests/api/test_fast_path.py (its validation-error case).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from typing import Any, cast

from graphql import GraphQLError, GraphQLSchema
from starlette.websockets import WebSocket
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.extensions.context import ExtensionContextManagerBase, WrappedHook
from strawberry.http.async_base_view import AsyncWebSocketAdapter
from strawberry.schema.schema import (
    StrawberryGraphQLCoreExecutionContext,
    StreamResult,
    validate_document,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    _OperationStreamClosed as OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

__all__ = [
    "StreamResult",
    "AsyncWebSocketAdapter",
    "BaseGraphQLTransportWSHandler",
    "BaseGraphQLWSHandler",
    "Operation",
    "OperationStreamClosed",
    "StrawberryGraphQLCoreExecutionContext",
    "cache_extension_hooks",
    "core_schema",
    "has_exception_handlers",
    "masked",
    "starlette_socket",
    "validate_document",
]


def starlette_socket(adapter: object) -> WebSocket:
    """The Starlette WebSocket under a handler's `websocket` (an ASGIWebSocketAdapter)."""
    return cast(ASGIWebSocketAdapter, adapter).ws


def masked(mask: MaskErrors, errors: list[GraphQLError]) -> list[GraphQLError]:
    """`errors` as the MaskErrors extension would leave them in a result."""
    result: Any = mask._process_errors(errors)
    return cast(list[GraphQLError], result)


def core_schema(schema: object) -> GraphQLSchema:
    """The graphql-core schema a Strawberry schema wraps (its `_schema`)."""
    found: Any = schema
    return cast(GraphQLSchema, found._schema)


def has_exception_handlers(schema: object) -> bool:
    """Whether the schema converts resolver exceptions into results (0.341's
    `schema_converter._exception_handler_specs`): schema/compiled_holds.py then leaves the
    resolvers alone."""
    found: Any = schema
    return bool(found.schema_converter._exception_handler_specs)


def describe_enum_values(cls: type, descriptions: dict[str, str]) -> None:
    """Value descriptions for an enum registered with `strawberry.enum(cls)`: the domain's enums
    cannot hold `strawberry.enum_value`, so they go on the EnumValues of its 0.341
    `__strawberry_definition__`. Guarded by tests/api/test_incoming_contract.py."""
    for value in cls.__strawberry_definition__.values:  # type: ignore[attr-defined]
        if value.name in descriptions:
            value.description = descriptions[value.name]


_HOOKS: dict[tuple[type, str], tuple[Any, bool] | None] = {}
_get_hook = ExtensionContextManagerBase.get_hook


def _cached_get_hook(self: ExtensionContextManagerBase,
                     extension: SchemaExtension) -> WrappedHook | None:
    """0.341's get_hook for generator hooks, with the class's context manager made once."""
    key = (type(extension), self.HOOK_NAME)
    if key not in _HOOKS:
        hook = getattr(key[0], self.HOOK_NAME)
        if hook is getattr(SchemaExtension, self.HOOK_NAME):
            _HOOKS[key] = None
        elif inspect.isgeneratorfunction(hook):
            _HOOKS[key] = (contextlib.contextmanager(hook), False)
        elif inspect.isasyncgenfunction(hook):
            _HOOKS[key] = (contextlib.asynccontextmanager(hook), True)
        else:  # a plain or async callable: 0.341's own way
            _HOOKS[key] = (None, False)
    found = _HOOKS[key]
    if found is None:
        return None
    manager, is_async = found
    if manager is None:
        return _get_hook(self, extension)
    return WrappedHook(extension=extension, hook=functools.partial(manager, extension),
                       is_async=is_async)


def cache_extension_hooks() -> None:
    """Install `_cached_get_hook` (once; schema/root.py's build_schema calls it)."""
    ExtensionContextManagerBase.get_hook = _cached_get_hook  # type: ignore[method-assign]
