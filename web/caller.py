"""Who is calling: the one Authorization header (or the SSE feed's `access_token`) and the
client address; web/rate_limit.py, web/view.py and web/sse.py all read a caller through it.

Two Authorization headers are refused (400 DUPLICATE_AUTHORIZATION): a proxy and the server
could otherwise each read a different one.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import Scope

from service.access import AccessError

DUPLICATE = "DUPLICATE_AUTHORIZATION"
_SSE_PREFIX = "/skus/"


def authorization(scope: Scope) -> str | None:
    """The request's credential as an `Authorization` value, None without one; AccessError
    (DUPLICATE_AUTHORIZATION) when it sends the header more than once, or both the header and
    an SSE `access_token`."""
    values = Headers(scope=scope).getlist("authorization")
    if len(values) > 1:
        raise AccessError(DUPLICATE, "send exactly one Authorization header")
    header = values[0] if values else None
    if scope["type"] == "http" and scope["path"].startswith(_SSE_PREFIX):
        token = HTTPConnection(scope).query_params.getlist("access_token")
        if len(token) > 1 or (token and header is not None):
            raise AccessError(DUPLICATE, "send one credential: a header or one access_token")
        if token:
            return f"Bearer {token[0]}"
    return header


def address(scope: Scope) -> str:
    """The client address (uvicorn has already applied FORWARDED_ALLOW_IPS to it)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
