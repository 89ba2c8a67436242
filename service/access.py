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

from domain.access import ADMIN, Principal, Scope, bearer_token, key_shaped
from store import keys
from store.errors import log_failure

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
    owner: str = ""  # what its cap counts: "key:<id>", or "ip:<address>" for anonymous feeds


CACHE_ENTRIES = 10_000


class Gatekeeper:
    """Known keys are cached (a revoked key's entry goes stale at the next re-check and is
    looked up again), unknown tokens too, in a cache of their own: a flood of junk tokens
    cannot push the known keys out. `lookups` counts the database lookups."""

    def __init__(
        self, pool: asyncpg.Pool, *, admin_token: str | None = None,
        anonymous: frozenset[Scope] = frozenset({Scope.READ}), cache_seconds: float = 2.0,
        max_feeds_per_key: int = 200, max_feeds_per_address: int = 50,
    ) -> None:
        self.max_feeds_per_key = max_feeds_per_key
        self.max_feeds_per_address = max_feeds_per_address
        self.pool = pool
        self.admin_token = admin_token
        self.anonymous = Principal(None, "anonymous", anonymous)
        self.cache_seconds = cache_seconds
        self.lookups = 0
        self._known: dict[str, tuple[float, Principal]] = {}  # token digest: (fresh until, key)
        self._unknown: dict[str, float] = {}  # token digest: until when it is known unknown
        self._feeds: dict[str, set[Feed]] = {}  # by owner

    def _admin(self, token: str) -> bool:
        return bool(self.admin_token) and hmac.compare_digest(
            token.encode(), (self.admin_token or "").encode())

    def known(self, authorization: str | None) -> Principal | None:
        """The key behind `authorization` if this instance has met it (fresh or stale), without
        asking the database: what the rate limit charges. None for anything else."""
        if not authorization:
            return None
        try:
            token = bearer_token(authorization)
        except ValueError:
            return None
        if self._admin(token):
            return ADMIN
        entry = self._known.get(_digest(token))
        return entry[1] if entry is not None else None

    async def principal(self, authorization: str | None) -> Principal | None:
        """The caller behind an `Authorization: Bearer <key>` value; None when absent."""
        if not authorization:
            return None
        try:
            token = bearer_token(authorization)
        except ValueError as error:
            raise unauthenticated(str(error)) from None
        if self._admin(token):
            return ADMIN
        if not key_shaped(token):
            raise unauthenticated("unknown or revoked API key")
        digest = _digest(token)
        now = time.monotonic()
        entry = self._known.get(digest)
        if entry is not None and entry[0] > now:
            return entry[1]
        if self._unknown.get(digest, 0.0) > now:
            raise unauthenticated("unknown or revoked API key")
        self.lookups += 1
        async with self.pool.acquire() as conn:
            found = await keys.authenticate(conn, token)
        if found is None:
            self._known.pop(digest, None)
            if len(self._unknown) >= CACHE_ENTRIES:
                self._unknown.clear()
            self._unknown[digest] = now + self.cache_seconds
            raise unauthenticated("unknown or revoked API key")
        if len(self._known) >= CACHE_ENTRIES:
            self._known.clear()
        self._known[digest] = (now + self.cache_seconds, found)
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
        alive: Callable[[], bool] = lambda: True, *, address: str | None = None,
    ) -> Feed | None:
        """Count a long-lived feed against its key's cap (MAX_CONNECTIONS_PER_KEY) or, opened
        without a key, its client address's (MAX_ANONYMOUS_FEEDS_PER_ADDRESS); a key's feed is
        ended by `close` once the key is revoked or narrowed. The caller unwatches it on every
        exit; `alive` is a backstop. None for the admin token (uncounted)."""
        if principal is None or principal.key_id is None:
            if principal is not None:
                return None  # ADMIN_API_KEY: the operator's own
            owner, cap, who = f"ip:{address or 'unknown'}", self.max_feeds_per_address, (
                f"address {address}")
            principal = self.anonymous
        else:
            owner, cap, who = (f"key:{principal.key_id}", self.max_feeds_per_key,
                               f"API key {principal.name!r}")
        feeds = self._feeds.setdefault(owner, set())
        if len(feeds) >= cap:  # the backstop sweep, only at the cap: every exit unwatches, and
            # a sweep per new feed made subscribing O(n) per feed for a key with thousands
            feeds.difference_update([f for f in feeds if not f.alive()])
        if len(feeds) >= cap:
            raise AccessError(
                "TOO_MANY_CONNECTIONS", f"{who} has {len(feeds)} open feeds on this instance",
            )
        feed = Feed(principal, needs, close, alive, owner)
        feeds.add(feed)
        return feed

    def unwatch(self, feed: Feed | None) -> None:
        if feed is None:
            return
        feeds = self._feeds.get(feed.owner)
        if feeds is not None:
            feeds.discard(feed)
            if not feeds:
                del self._feeds[feed.owner]

    def open_feeds(self, owner: str) -> int:
        """How many feeds `owner` ("key:<id>" or "ip:<address>") holds on this instance."""
        return len(self._feeds.get(owner, ()))

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.recheck()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log_failure(log, exc, "re-checking API keys of open feeds")

    async def recheck(self) -> None:
        # a key met before is looked up again on its next use: revocation reaches requests
        self._known = {d: (0.0, p) for d, (_, p) in self._known.items()}
        for owner in list(self._feeds):
            feeds = self._feeds[owner]
            feeds.difference_update([f for f in feeds if not f.alive()])
            if not feeds:
                del self._feeds[owner]
        feeds_of_keys = [f for owner, found in self._feeds.items() if owner.startswith("key:")
                         for f in found]
        if not feeds_of_keys:
            return
        ids = list({f.principal.key_id for f in feeds_of_keys if f.principal.key_id is not None})
        async with self.pool.acquire() as conn:
            current = await keys.live(conn, ids)
        for feed in feeds_of_keys:
            key = current.get(feed.principal.key_id or 0)
            reason = ("API key revoked" if key is None
                      else f"API key lost scope {feed.needs.value}" if not key.has(feed.needs)
                      else None)
            if reason is not None:
                self.unwatch(feed)
                log.info("closing a feed of key %r: %s", feed.principal.name, reason)
                await feed.close(reason)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
