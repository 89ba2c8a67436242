"""Unexpected errors logged with the request id and masked, stable codes for every error, one
line without values for a client's mistakes: schema/root.py (InventorySchema), web/ and the relay.

A client's mistake or refusal logs one line without traceback or any value it sent."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionContext

from ops import request_id
from store.errors import Busy, connection_lost

log = logging.getLogger("inventory.errors")
refusals = logging.getLogger("inventory.refusals")

# the caller may not (or not now): a WARNING; any other client mistake is INFO
REFUSALS = frozenset({"UNAUTHENTICATED", "FORBIDDEN", "RATE_LIMITED", "QUERY_TOO_COMPLEX",
                      "INTROSPECTION_DISABLED", "TOO_MANY_CONNECTIONS"})


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


def error_code(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) else code_for(error.message)


def with_codes(errors: list[dict[str, Any]]) -> None:
    for error in errors:
        extensions = error.setdefault("extensions", {})
        extensions.setdefault("code", code_for(error.get("message", "")))


class InventorySchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        """Replaces Strawberry's ERROR line with traceback per error (whose text quotes the
        document, argument values included): one line per operation with the codes only.
        Unexpected errors are MaskUnexpectedErrors' to log."""
        codes = sorted({error_code(e) for e in errors if not _unexpected(e)})
        if codes:
            level = logging.WARNING if REFUSALS.intersection(codes) else logging.INFO
            refusals.log(level, "graphql refused: %s", ",".join(codes),
                         extra={"outcome": ",".join(codes)})


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=_unexpected, error_message="Internal server error")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        rid = request_id.current.get()
        if error.original_error is not None and connection_lost(error.original_error):
            log.warning("request %s: the database connection was lost (%s)", rid,
                        type(error.original_error).__name__)
            return GraphQLError(
                f"The database is unavailable; retry shortly, with the same idempotencyKey "
                f"(request id {rid})",
                nodes=error.nodes, source=error.source, positions=error.positions,
                path=error.path,
                extensions={"code": "SERVICE_UNAVAILABLE", "retryAfter": 1, "requestId": rid},
            )
        if isinstance(error.original_error, Busy):
            log.warning("request %s: %s", rid, error.original_error)
            return GraphQLError(
                f"Too busy to apply this now; retry shortly, with the same idempotencyKey "
                f"(request id {rid})",
                nodes=error.nodes, source=error.source, positions=error.positions,
                path=error.path,
                extensions={"code": "SERVICE_UNAVAILABLE", "retryAfter": 1, "requestId": rid},
            )
        log.error("request %s failed at %s", rid, error.path, exc_info=error.original_error)
        return GraphQLError(
            f"Internal server error (request id {rid})",
            nodes=error.nodes, source=error.source, positions=error.positions, path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": rid},
        )
