"""Authenticating API keys, and closing long-lived feeds whose key was revoked or narrowed
(Gatekeeper: made by server.py, asked by resolvers.permissions, web/view.py and web/sse.py)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from domain.access import ADMIN, Principal, Scope
from store import keys

log = logging.getLogger(__name__)
Close = Callable[[str], Awaitable[None]]


class AccessError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def unauthenticated(message: str) -> AccessError:
    return AccessError("UNAUTHENTICATED", message)


def forbidden(message: str) -> AccessError:
    return AccessError("FORBIDDEN", message)


@dataclass(eq=False)
class Feed:
    principal: Principal
    needs: Scope
    close: Close
    alive: Callable[[], bool] = lambda: True


class Gatekeeper:
    def __init__(
        self, pool: asyncpg.Pool, *, admin_token: str | None = None,
        anonymous: frozenset[Scope] = frozenset({Scope.READ}), cache_seconds: float = 2.0,
        max_feeds_per_key: int = 200,
    ) -> None:
        self.max_feeds_per_key = max_feeds_per_key
        self.pool = pool
        self.admin_token = admin_token
        self.anonymous = Principal(None, "anonymous", anonymous)
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._feeds: set[Feed] = set()

    async def principal(self, authorization: str | None) -> Principal | None:
        """The caller behind an `Authorization: Bearer <key>` value; None when absent."""
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 200:
            raise unauthenticated("use `Authorization: Bearer <api key>`")
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return ADMIN
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            found = cached[1]
        else:
            async with self.pool.acquire() as conn:
                found = await keys.authenticate(conn, token)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now + self.cache_seconds, found)
        if found is None:
            raise unauthenticated("unknown or revoked API key")
        return found

    def check(self, principal: Principal | None, scope: Scope) -> None:
        if principal is None:
            if self.anonymous.has(scope):
                return
            raise unauthenticated(f"this needs an API key with scope {scope.value}")
        if not principal.has(scope):
            raise forbidden(f"API key {principal.name!r} lacks scope {scope.value}")

    def watch(
        self, principal: Principal | None, needs: Scope, close: Close,
        alive: Callable[[], bool] = lambda: True,
    ) -> Feed | None:
        """Keep an eye on a long-lived feed opened with a key; `close` ends it."""
        if principal is None or principal.key_id is None:
            return None
        self._feeds = {f for f in self._feeds if f.alive()}
        open_feeds = sum(1 for f in self._feeds if f.principal.key_id == principal.key_id)
        if open_feeds >= self.max_feeds_per_key:
            raise AccessError(
                "TOO_MANY_CONNECTIONS",
                f"API key {principal.name!r} has {open_feeds} open feeds on this instance",
            )
        feed = Feed(principal, needs, close, alive)
        self._feeds.add(feed)
        return feed

    def unwatch(self, feed: Feed | None) -> None:
        if feed is not None:
            self._feeds.discard(feed)

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.recheck()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("re-checking API keys of open feeds failed")

    async def recheck(self) -> None:
        self._feeds = {f for f in self._feeds if f.alive()}
        feeds = list(self._feeds)
        if not feeds:
            return
        ids = list({f.principal.key_id for f in feeds if f.principal.key_id is not None})
        async with self.pool.acquire() as conn:
            current = await keys.live(conn, ids)
        self._cache.clear()
        for feed in feeds:
            key = current.get(feed.principal.key_id or 0)
            reason = ("API key revoked" if key is None
                      else f"API key lost scope {feed.needs.value}" if not key.has(feed.needs)
                      else None)
            if reason is not None:
                self._feeds.discard(feed)
                log.info("closing a feed of key %r: %s", feed.principal.name, reason)
                await feed.close(reason)
