"""What a WebSocket message must look like before Strawberry's handlers see it: the checks of
web/websocket.py (graphql-transport-ws) and web/ws_legacy.py (graphql-ws).

A message that fails one closes its socket with 4400 and the reason, instead of 1011 or a
silent skip."""

from __future__ import annotations

from typing import Any

INVALID_MESSAGE = 4400
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
