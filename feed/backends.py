"""A Redis pub/sub backend for broadcaster that subscribes without races and survives outages;
feed/broadcast.py wraps it, over the Redis client bootstrap/ shares (or its own, from a URL)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from broadcaster import BroadcastBackend, Event
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from feed.outlet import Outlet

log = logging.getLogger(__name__)

# The message of the event sent on each subscribed channel after a reconnection: messages may
# have been missed, so consumers must re-read their source of truth.
RESYNC = "\x00resync"


class FeedUnavailable(Exception):
    """Redis could not be reached in time; nothing was published."""


def redis_client(url: str, *, timeout: float = 1.0) -> Redis:
    """A client as the backend needs it: RESP2 (its listener reads pub/sub replies as lists) and
    one immediate retry on a new connection after a connection error. It connects on first use.

    The retry is for a pooled connection that went stale while Redis restarted: without it the
    first command on it (a /readyz ping, a rate-limit lease) fails although Redis is back. While
    Redis is down the retry's connect is refused at once, and a timeout is never retried, so each
    caller's own deadline still decides. (The asyncio Retry: redis.retry's does not retry
    coroutines.)"""
    return Redis.from_url(
        url,
        protocol=2,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )


class ReliableRedisBackend(BroadcastBackend):
    """Publishes through `client`'s pool; listens on one connection of its own, made from the
    client's settings. Closes `client` on disconnect only if it `owns_client` (see from_url)."""

    def __init__(
        self,
        client: Redis,
        *,
        owns_client: bool = False,
        timeout: float = 1.0,
        min_backoff: float = 0.05,
        max_backoff: float = 2.0,
        health_check_interval: float = 5.0,
    ) -> None:
        self._timeout = timeout
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._health_check_interval = health_check_interval
        self._client = client
        self._owns_client = owns_client
        self._outlet = Outlet("redis feed")
        self._channels: set[str] = set()
        self._resync: set[str] = set()
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._conn: AbstractConnection | None = None
        self._connected = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        # moves on every connection and every loss of one: what was known current under one
        # epoch (feed/read_model.py's entries) may have missed messages since
        self.epoch = 0

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._connected.is_set()

    def subscribed(self, channel: str) -> bool:
        """Whether `channel`'s SUBSCRIBE is confirmed on the current connection."""
        return (self.connected and channel in self._channels and channel not in self._resync
                and channel not in self._confirmations)

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 1.0, **options: float) -> ReliableRedisBackend:
        """A backend with a client of its own, closed on disconnect."""
        return cls(redis_client(url, timeout=timeout), owns_client=True, timeout=timeout,
                   **options)

    async def connect(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="redis-feed-listener")
        try:
            async with asyncio.timeout(self._timeout):
                await self._connected.wait()
        except TimeoutError:
            log.warning("redis feed: not reachable yet; subscribers will get RESYNC once it is")

    async def disconnect(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._owns_client:
            await self._client.aclose()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        conn = self._conn
        if conn is None or not conn.is_connected:
            return  # the listener subscribes it, with a RESYNC, once Redis is back
        confirmed = self._confirmations.setdefault(
            channel, asyncio.get_running_loop().create_future()
        )
        try:
            await conn.send_command("SUBSCRIBE", channel, check_health=False)
            async with asyncio.timeout(self._timeout):
                await asyncio.shield(confirmed)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("redis feed: subscribing to %r is late (%s); will RESYNC", channel, exc)
            self._resync.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        self._resync.discard(channel)
        conn = self._conn
        if conn is None or not conn.is_connected:
            return
        try:
            await conn.send_command("UNSUBSCRIBE", channel, check_health=False)
        except (RedisError, OSError) as exc:
            log.warning("redis feed: unsubscribing from %r failed: %s", channel, exc)

    async def publish(self, channel: str, message: Any) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.publish(channel, message)
        except (RedisError, OSError, TimeoutError) as exc:
            raise FeedUnavailable(f"cannot publish to {channel!r}: {exc}") from exc

    async def publish_many(self, messages: Sequence[tuple[str, Any]]) -> None:
        """One round trip for a batch (a pipeline, not a transaction): what a group commit
        publishes at once."""
        try:
            async with asyncio.timeout(self._timeout):
                async with self._client.pipeline(transaction=False) as pipe:
                    for channel, message in messages:
                        pipe.publish(channel, message)
                    await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            raise FeedUnavailable(f"cannot publish {len(messages)} events: {exc}") from exc

    def deliver_to(self, receive: Callable[[Event], None]) -> None:
        self._outlet.deliver_to(receive)

    async def next_published(self) -> Event:
        return await self._outlet.next_published()

    def _emit(self, event: Event) -> None:
        self._outlet.emit(event)

    async def _listen(self) -> None:
        backoff = self._min_backoff
        while True:
            pool = self._client.connection_pool
            conn: AbstractConnection = pool.make_connection()  # type: ignore[no-untyped-call]
            try:
                await conn.connect()  # type: ignore[no-untyped-call]
                backoff = self._min_backoff
                await self._serve(conn)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("redis feed: %s; reconnecting in %.2fs", exc, backoff)
            except Exception:
                log.exception("redis feed: listener failed; retrying in %.2fs", backoff)
            finally:
                self._conn = None
                self._connected.clear()
                self.epoch += 1
                self._release_confirmations()
                with contextlib.suppress(Exception):
                    await conn.disconnect(nowait=True)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _serve(self, conn: AbstractConnection) -> None:
        # No await between publishing the connection and taking the snapshot: a concurrent
        # subscribe() is either in the snapshot or sends its own SUBSCRIBE on this connection.
        self._conn = conn
        self.epoch += 1
        self._resync = set(self._channels)
        if self._resync:
            await conn.send_command("SUBSCRIBE", *self._resync, check_health=False)
        self._connected.set()
        log.info("redis feed: connected, %d channel(s) to resync", len(self._resync))
        awaiting_pong = False
        while True:
            reply = await conn.read_response(timeout=self._health_check_interval)
            if reply is not None:
                awaiting_pong = False
                self._dispatch(reply)
            elif awaiting_pong:
                raise TimeoutError("no reply to PING")
            else:
                await conn.send_command("PING", check_health=False)
                awaiting_pong = True

    def _dispatch(self, reply: Any) -> None:
        if not isinstance(reply, list) or len(reply) < 3:
            return  # PONG outside subscribed mode
        kind, channel = bytes(reply[0]), bytes(reply[1]).decode()
        if kind == b"message":
            self._emit(Event(channel, bytes(reply[2]).decode()))
        elif kind == b"subscribe":
            confirmed = self._confirmations.pop(channel, None)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            if channel in self._resync and channel in self._channels:
                self._resync.discard(channel)
                self._emit(Event(channel, RESYNC))

    def _release_confirmations(self) -> None:
        for confirmed in self._confirmations.values():
            if not confirmed.done():
                confirmed.set_result(None)
        self._confirmations.clear()
