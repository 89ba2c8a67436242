"""Requests per second per API key (or client address), shared by every instance through Redis;
bootstrap/ builds it over the shared client, this middleware and web/fast_path.py ask it.

In-process when there is no Redis. Fails open when Redis does not answer in time: a counter
outage must not take the API down.

Each instance leases the budget from Redis in chunks (a twentieth of the limit, at least 1):
one INCRBY per chunk instead of a round trip per request. The count in Redis is what all
instances have leased, so the instances together never admit more than the limit in a
window; a chunk an instance leased and did not use is lost for that window, so a caller
spread over several instances may be refused up to (instances x chunk) requests early.
A limit of 20 or less leases one request at a time: exact.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from redis import asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from domain.access import Principal
from service.access import AccessError, Gatekeeper
from web import caller
from web.refusals import Refusal, rate_limited
from web.state import Services

log = logging.getLogger(__name__)

CHUNKS_PER_WINDOW = 20


@dataclass(slots=True)
class _Lease:
    window: int
    left: int = 0
    exhausted: bool = False  # the window's budget is all leased, here or elsewhere


class Counter:
    """Fixed one-second windows. Each lease asks `redis` within `timeout` seconds; the client
    is the caller's to close unless the counter `owns_client` (see from_url)."""

    def __init__(self, redis: aioredis.Redis | RedisCluster | None, prefix: str, *,
                 timeout: float = 0.25, owns_client: bool = False) -> None:
        self.prefix = prefix
        self.redis = redis
        # on a Redis Cluster the caller is the key's hash tag: all of one caller's windows on
        # one slot, so a script over them (or a MULTI) never spans shards
        self._tagged = isinstance(redis, RedisCluster)
        self.timeout = timeout
        self._owns_client = owns_client
        self.local: dict[str, int] = {}
        self.local_window = 0
        self._leases: dict[str, _Lease] = {}
        self._leasing: dict[str, asyncio.Future[None]] = {}
        self._leases_window = 0

    @classmethod
    def from_url(cls, redis_url: str | None, prefix: str) -> Counter:
        """A counter with a Redis client of its own (closed by close()), or in-process."""
        redis = (aioredis.Redis.from_url(redis_url, socket_timeout=0.25,
                                         socket_connect_timeout=0.25) if redis_url else None)
        return cls(redis, prefix, owns_client=True)

    async def admit(self, identity: str, limit: int) -> bool:
        """Counts one request of `identity`; False if it is over `limit` this second."""
        window = int(time.time())
        if self.redis is None:
            if window != self.local_window:
                self.local, self.local_window = {}, window
            self.local[identity] = self.local.get(identity, 0) + 1
            return self.local[identity] <= limit
        while True:
            if window != self._leases_window:  # forget the callers of earlier windows
                self._leases, self._leases_window = {}, window
            lease = self._leases.get(identity)
            if lease is not None and lease.window == window:
                if lease.left > 0:
                    lease.left -= 1
                    return True
                if lease.exhausted:
                    return False
            pending = self._leasing.get(identity)
            if pending is None:
                pending = self._leasing[identity] = asyncio.ensure_future(
                    self._lease(identity, window, limit))
                pending.add_done_callback(lambda _: self._leasing.pop(identity, None))
            await asyncio.shield(pending)
            window = int(time.time())

    async def _lease(self, identity: str, window: int, limit: int) -> None:
        chunk = max(1, limit // CHUNKS_PER_WINDOW)
        key = (f"{self.prefix}:rate:{{{identity}}}:{window}" if self._tagged
               else f"{self.prefix}:rate:{identity}:{window}")
        assert self.redis is not None
        try:
            async with (
                asyncio.timeout(self.timeout), self.redis.pipeline(transaction=False) as pipe
            ):
                pipe.incrby(key, chunk)
                pipe.expire(key, 2)
                leased, _ = await pipe.execute()
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            log.warning("rate limiting skipped: Redis unavailable (%r)", exc)
            granted, exhausted = chunk, False  # fail open
        else:
            before = int(leased) - chunk
            granted = max(0, min(chunk, limit - before))
            exhausted = int(leased) >= limit
        if window == self._leases_window:
            # once `left` is spent, an exhausted lease refuses without asking Redis again
            self._leases[identity] = _Lease(window, granted, exhausted)

    async def close(self) -> None:
        if self.redis is not None and self._owns_client:
            await self.redis.aclose()


ADMITTED = "inventory.rate_admitted"  # scope key: web.fast_path already counted this request


def _gatekeeper(scope: Scope) -> Gatekeeper | None:
    found = (scope.get("state") or {}).get("services")
    return found.gatekeeper if isinstance(found, Services) else None


class RateLimit:
    """The policy, shared by the middleware, web.fast_path and both WebSocket protocols (one
    count per `subscribe`/`start`). A caller is its key when the key is one this instance has
    met (web.caller reads the one credential, service.access parses it as authentication
    does), else its client address: unknown and malformed tokens spend the address's budget
    before anything looks them up. A key's own rate (`keys set-rate-limit`) overrides
    `per_key`; 0 is unlimited."""

    def __init__(self, counter: Counter, *, per_key: int, anonymous: int,
                 paths: tuple[str, ...] = ("/graphql", "/skus/")) -> None:
        self.counter = counter
        self.per_key = per_key
        self.anonymous = anonymous
        self.paths = paths

    def budget(self, principal: Principal | None, address: str) -> tuple[str, int]:
        """The identity a request is counted under and its limit per second."""
        if principal is None:
            return f"ip:{address}", self.anonymous
        if principal.key_id is None:
            return "admin", self.per_key
        limit = self.per_key if principal.rate_limit is None else principal.rate_limit
        return f"key:{principal.key_id}", limit

    async def allow(self, principal: Principal | None, address: str) -> tuple[bool, int]:
        """Counts one operation; (admitted, the limit that applied)."""
        identity, limit = self.budget(principal, address)
        return limit <= 0 or await self.counter.admit(identity, limit), limit

    async def spend(self, principal: Principal | None, address: str, units: int) -> bool:
        """Counts `units` more operations of a request already admitted (a bulk call's weight);
        False once the budget is spent."""
        for _ in range(units):
            if not (await self.allow(principal, address))[0]:
                return False
        return True

    async def admit(self, scope: Scope, send: Send) -> bool:
        """Counts the request once; False after answering 429 (or 400 for a duplicated
        credential)."""
        if scope.get(ADMITTED):
            return True
        scope[ADMITTED] = True
        try:
            credential = caller.authorization(scope)
        except AccessError as error:
            await Refusal(400, error.code, error.message).send(send)
            return False
        gatekeeper = _gatekeeper(scope)
        principal = gatekeeper.known(credential) if gatekeeper is not None else None
        admitted, limit = await self.allow(principal, caller.address(scope))
        if not admitted:
            await rate_limited(limit).send(send)
        return admitted


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: RateLimit) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http" or not scope["path"].startswith(self.limit.paths)
            or await self.limit.admit(scope, send)
        ):
            await self.app(scope, receive, send)
