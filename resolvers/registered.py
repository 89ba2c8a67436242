"""The registered-documents mode (PERSISTED_QUERIES_ONLY): which texts may run and who is exempt;
web/persisted.py and schema.root's build_schema (through bootstrap/app.py) apply it.

web/persisted.py refuses HTTP requests before parsing; `registered_extensions` refuses every
operation, so a WebSocket or SSE subscription cannot run what HTTP would refuse."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from domain.access import Principal, Scope

REQUIRED = "PERSISTED_QUERY_REQUIRED"
REQUIRED_MESSAGE = "This server runs registered documents only."


@dataclass(frozen=True)
class RegisteredDocuments:
    texts: frozenset[str] = frozenset()
    only: bool = False
    admin_bypass: bool = False

    def locked(self, principal: Principal | None) -> bool:
        """Whether this caller may run registered documents only."""
        exempt = self.admin_bypass and principal is not None and Scope.ADMIN in principal.scopes
        return self.only and not exempt

    def refuses(self, text: object, principal: Principal | None) -> bool:
        return self.locked(principal) and text not in self.texts


def refusal() -> GraphQLError:
    return GraphQLError(REQUIRED_MESSAGE, extensions={"code": REQUIRED})


class RegisteredOnly(SchemaExtension):
    """Refuses an unregistered document before graphql-core validates it (first among the
    extensions: the limits and the validation cache then see its error and skip)."""

    def __init__(self, *, documents: RegisteredDocuments) -> None:
        self.documents = documents

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        principal = getattr(context.context, "principal", None)
        if context.pre_execution_errors is None and self.documents.refuses(context.query,
                                                                           principal):
            context.pre_execution_errors = [refusal()]
        yield


def registered_extensions(documents: RegisteredDocuments
                          ) -> list[Callable[[], SchemaExtension]]:
    """Nothing unless PERSISTED_QUERIES_ONLY: an extension costs every operation a call."""
    if not documents.only:
        return []
    return [functools.partial(RegisteredOnly, documents=documents)]
