"""Requests per second per API key (or per client address without one), counted in Redis so
that every instance shares the budget; in-process when there is no Redis. Fails open when
Redis does not answer: a counter outage must not take the API down."""

from __future__ import annotations

import hashlib
import logging
import time

import orjson
from redis import asyncio as aioredis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)


class Counter:
    """Fixed one-second windows."""

    def __init__(self, redis_url: str | None, prefix: str) -> None:
        self.prefix = prefix
        self.redis = (
            aioredis.Redis.from_url(redis_url, socket_timeout=0.25, socket_connect_timeout=0.25)
            if redis_url else None
        )
        self.local: dict[str, int] = {}
        self.local_window = 0

    async def hit(self, identity: str) -> int:
        window = int(time.time())
        if self.redis is None:
            if window != self.local_window:
                self.local, self.local_window = {}, window
            self.local[identity] = self.local.get(identity, 0) + 1
            return self.local[identity]
        key = f"{self.prefix}:rate:{identity}:{window}"
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, 2)
                count, _ = await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("rate limiting skipped: Redis unavailable (%r)", exc)
            return 0
        return int(count)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


ADMITTED = "inventory.rate_admitted"  # scope key: web.fast_path already counted this request


class RateLimit:
    """The policy, shared by the middleware and web.fast_path."""

    def __init__(self, counter: Counter, *, per_key: int, anonymous: int,
                 paths: tuple[str, ...] = ("/graphql", "/skus/")) -> None:
        self.counter = counter
        self.per_key = per_key
        self.anonymous = anonymous
        self.paths = paths

    async def admit(self, scope: Scope, send: Send, headers: dict[bytes, bytes]) -> bool:
        """Counts the request once; False after answering 429."""
        if scope.get(ADMITTED):
            return True
        scope[ADMITTED] = True
        token = headers.get(b"authorization")
        if token:
            identity, limit = "key:" + hashlib.sha256(token).hexdigest()[:24], self.per_key
        else:
            client = scope.get("client") or ("unknown", 0)
            identity, limit = f"ip:{client[0]}", self.anonymous
        if limit <= 0 or await self.counter.hit(identity) <= limit:
            return True
        body = orjson.dumps({"errors": [{
            "message": f"rate limit of {limit} requests per second exceeded; retry shortly",
            "extensions": {"code": "RATE_LIMITED", "retryAfter": 1},
        }]})
        await send({"type": "http.response.start", "status": 429, "headers": [
            (b"content-type", b"application/json"), (b"retry-after", b"1"),
            (b"content-length", str(len(body)).encode()),
        ]})
        await send({"type": "http.response.body", "body": body})
        return False


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: RateLimit) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http" or not scope["path"].startswith(self.limit.paths)
            or await self.limit.admit(scope, send, dict(scope["headers"]))
        ):
            await self.app(scope, receive, send)
