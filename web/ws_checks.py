"""WebSocket messages checked before Strawberry's handlers see them (shape; the caller's rate for
an operation): web/websocket.py (graphql-transport-ws) and web/ws_legacy.py (graphql-ws).

A message that fails a check closes its socket with 4400 and the reason, instead of 1011 or
a silent skip. An operation over the rate limit is refused alone: an `error` message with
code RATE_LIMITED for its id, the socket stays open (a client that retries later may)."""

from __future__ import annotations

from typing import Any

from starlette.websockets import WebSocket

from resolvers.context import Context
from web import caller
from web.rate_limit import RateLimit

INVALID_MESSAGE = 4400
TOO_MANY_INITIALISATION_REQUESTS = 4429  # as graphql-transport-ws closes a second init


async def rate_refusal(view: object, context: Context, socket: WebSocket
                       ) -> dict[str, object] | None:
    """Counts one operation of the socket's caller (its key, else its address) against the
    view's `rate_limit`; the GraphQL error to answer it with when it is over, else None."""
    limit = getattr(view, "rate_limit", None)
    if not isinstance(limit, RateLimit):
        return None
    admitted, per_second = await limit.allow(context.principal, caller.address(socket.scope))
    if admitted:
        return None
    return {"message": f"rate limit of {per_second} requests per second exceeded; retry "
                       "shortly", "extensions": {"code": "RATE_LIMITED", "retryAfter": 1}}
NOT_JSON = "WebSocket message must be valid JSON"


def _operation_problem(message: dict[str, Any], start: str) -> str | None:
    """The checks both protocols share for the message that starts an operation."""
    if not isinstance(message.get("id"), str):
        return f"{start} message needs a string id"
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return f"{start} payload must be an object"
    if not isinstance(payload.get("query"), str):
        return f"{start} payload needs a string query"
    for key in ("variables", "extensions"):
        if payload.get(key) is not None and not isinstance(payload[key], dict):
            return f"{start} payload {key} must be an object"
    if payload.get("operationName") is not None and not isinstance(payload["operationName"], str):
        return f"{start} payload operationName must be a string"
    return None


def transport_ws_problem(message: object) -> str | None:
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "Message must be an object with a string type"
    if message["type"] == "subscribe":
        return _operation_problem(message, "subscribe")
    if message["type"] == "complete" and not isinstance(message.get("id"), str):
        return "complete message needs a string id"
    return None


def legacy_ws_problem(message: object) -> str | None:
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "Message must be an object with a string type"
    if message["type"] == "start":
        return _operation_problem(message, "start")
    if message["type"] == "stop" and not isinstance(message.get("id"), str):
        return "stop message needs a string id"
    return None
