"""Every answer the server gives without running an operation: one Refusal, one body, one way
to send it (used by web/http_limits.py, web/rate_limit.py, web/fast_path.py and web/sse.py).

HTTP: 413, 429, 500, 504; the SSE feed's 400/401/403/404/429."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
from starlette.responses import JSONResponse, Response
from starlette.types import Send

from domain.bundle_stock import no_events_of


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    code: str
    message: str
    extensions: Mapping[str, object] = field(default_factory=dict)
    headers: tuple[tuple[bytes, bytes], ...] = ()

    def body(self) -> bytes:
        """As GraphQL reports errors: what clients of /graphql parse."""
        return orjson.dumps({"errors": [{
            "message": self.message, "extensions": {"code": self.code, **self.extensions},
        }]})

    async def send(self, send: Send) -> None:
        """Answers with body() on a raw ASGI channel (pure-ASGI middleware)."""
        body = self.body()
        await send({
            "type": "http.response.start", "status": self.status,
            "headers": [(b"content-type", b"application/json"), *self.headers,
                        (b"content-length", str(len(body)).encode())],
        })
        await send({"type": "http.response.body", "body": body})

    def feed_response(self) -> Response:
        """As the plain SSE feed reports errors: `{"error": {"code", "message"}}`."""
        return JSONResponse({"error": {"code": self.code, "message": self.message}},
                            status_code=self.status)


def too_large(max_bytes: int) -> Refusal:
    return Refusal(413, "REQUEST_TOO_LARGE", f"Request body is larger than {max_bytes} bytes.")


def too_late(seconds: float) -> Refusal:
    return Refusal(504, "TIMEOUT", f"The request took longer than {seconds:g} s and was cancelled.")


def rate_limited(limit: int) -> Refusal:
    return Refusal(429, "RATE_LIMITED",
                   f"rate limit of {limit} requests per second exceeded; retry shortly",
                   {"retryAfter": 1}, ((b"retry-after", b"1"),))


def internal_error(request_id: str) -> Refusal:
    return Refusal(500, "INTERNAL_SERVER_ERROR", f"Internal server error (request {request_id}).",
                   {"requestId": request_id})


def bundle_events(code: str) -> Refusal:
    """A bundle has no stock events of its own: the same words as the stockEvents
    subscription's BAD_USER_INPUT error."""
    return Refusal(400, "BAD_USER_INPUT", no_events_of(code))
