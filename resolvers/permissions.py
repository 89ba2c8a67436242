"""Scopes as Strawberry permissions: UNAUTHENTICATED or FORBIDDEN errors, nothing changed (put on
fields by schema.query, schema.mutation and schema.root)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from strawberry.permission import BasePermission

from domain.access import Scope
from resolvers.context import Info
from service.access import AccessError, forbidden


def access_error(error: AccessError) -> GraphQLError:
    return GraphQLError(error.message, extensions={"code": error.code})


class _Requires(BasePermission):
    scope = Scope.READ

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        context = info.context
        try:
            if context.auth_error is not None:
                raise context.auth_error
            context.gatekeeper.check(context.principal, self.scope)
        except AccessError as error:
            raise access_error(error) from None
        return True


class CanRead(_Requires):
    scope = Scope.READ


class CanReserve(_Requires):
    scope = Scope.RESERVE


class CanWrite(_Requires):
    scope = Scope.WRITE


class IsAdmin(_Requires):
    scope = Scope.ADMIN


def check_locations(info: Info, *locations: str | None) -> None:
    """A key bound to some locations may only change stock there, and must name them."""
    principal = info.context.principal
    if principal is None:
        return
    for location in locations:
        if not principal.may_touch(location):
            where = f"location {location!r}" if location else "an unnamed location"
            raise access_error(forbidden(f"API key {principal.name!r} may not touch {where}"))
