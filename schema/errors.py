"""Unexpected exceptions are logged with the request id and masked for the client, and every
error gets a stable code: schema/root.py installs the mask, web/ its codes and the relay both."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from ops import request_id

log = logging.getLogger("inventory.errors")


def _unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def code_for(message: str) -> str:
    """A stable code for the errors graphql-core raises without one."""
    if message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if message.startswith("Variable '$") and any(
        part in message for part in ("has invalid value", "was not provided", "must not be null")
    ):
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"


def with_codes(errors: list[dict[str, Any]]) -> None:
    for error in errors:
        extensions = error.setdefault("extensions", {})
        extensions.setdefault("code", code_for(error.get("message", "")))


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=_unexpected, error_message="Internal server error")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        rid = request_id.current.get()
        log.error("request %s failed at %s", rid, error.path, exc_info=error.original_error)
        return GraphQLError(
            f"Internal server error (request id {rid})",
            nodes=error.nodes, source=error.source, positions=error.positions, path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": rid},
        )
