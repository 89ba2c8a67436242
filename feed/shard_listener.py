"""One Redis Cluster master's listener for feed/shards.py: a connection of its own, SSUBSCRIBEd to
the channels whose slots that master serves, watched by PING.

On failure the backend rehomes its channels (a promoted replica, a moved slot) and they are
subscribed again with RESYNC."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from broadcaster import Event
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisClusterException, RedisError

if TYPE_CHECKING:
    from feed.shards import ShardedRedisBackend

log = logging.getLogger(__name__)
# a node or the whole cluster out of reach (RedisClusterException is no RedisError)
UNREACHABLE = (RedisError, RedisClusterException, OSError, TimeoutError)


class ShardMoved(Exception):
    """A channel's slot is no longer served where it was subscribed."""


class Shard:
    def __init__(self, backend: ShardedRedisBackend, node: str) -> None:
        self.backend = backend
        self.node = node
        self.channels: set[str] = set()
        self.conn: AbstractConnection | None = None
        self.retired = False
        self.connected = asyncio.Event()  # set while `conn` serves
        self.refused = False  # the last connect failed: the node is down (publishes skip it)
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._leaving: dict[str, int] = {}  # SUNSUBSCRIBEs sent, not yet confirmed
        self.task = asyncio.create_task(self._run(), name=f"redis-shard:{node}")

    async def add(self, channel: str) -> None:
        """Subscribes `channel` here, confirmed within the backend's timeout (a new listener's
        connection is awaited that long); else once connected, with a RESYNC."""
        if self.conn is None and not self.retired:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.backend.timeout):
                    await self.connected.wait()
        self.channels.add(channel)
        conn = self.conn
        if conn is None or not conn.is_connected:
            self.backend.resync.add(channel)
            return
        confirmed = self._confirmations.setdefault(
            channel, asyncio.get_running_loop().create_future())
        try:
            await conn.send_command("SSUBSCRIBE", channel, check_health=False)
            async with asyncio.timeout(self.backend.timeout):
                await asyncio.shield(confirmed)
        except UNREACHABLE as exc:
            log.warning("redis cluster feed: subscribing to %r on %s is late (%s); will RESYNC",
                        channel, self.node, exc)
            self.backend.resync.add(channel)

    async def take(self, channels: Collection[str]) -> None:
        """Channels moved here (a failover, a moved slot, a late start), each to get a RESYNC:
        subscribed now in one write if connected, else by the snapshot once connected."""
        channels = [c for c in channels if c in self.backend.channels]  # still wanted
        if not channels:
            return
        self.channels.update(channels)
        self.backend.resync.update(channels)
        conn = self.conn
        if conn is None or not conn.is_connected:
            return
        try:
            await conn.send_packed_command(conn.pack_commands(
                [("SSUBSCRIBE", channel) for channel in channels]), check_health=False)
        except UNREACHABLE as exc:  # the listener's reconnection subscribes them
            log.warning("redis cluster feed: subscribing %d channel(s) on %s failed: %s",
                        len(channels), self.node, exc)

    async def remove(self, channel: str) -> None:
        self.channels.discard(channel)
        conn = self.conn
        if conn is None or not conn.is_connected:
            return
        self._leaving[channel] = self._leaving.get(channel, 0) + 1
        try:
            await conn.send_command("SUNSUBSCRIBE", channel, check_health=False)
        except (RedisError, OSError) as exc:
            log.warning("redis cluster feed: unsubscribing from %r failed: %s", channel, exc)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def _run(self) -> None:
        backend = self.backend
        backoff = backend.min_backoff
        while not self.retired:
            conn: AbstractConnection | None = None
            try:
                conn = backend.connection(self.node)
                try:
                    await conn.connect()  # type: ignore[no-untyped-call]
                except UNREACHABLE:
                    self.refused = True
                    raise
                self.refused = False
                backoff = backend.min_backoff
                await self._serve(conn)
            except asyncio.CancelledError:
                raise
            except (*UNREACHABLE, ShardMoved) as exc:
                log.warning("redis cluster feed: %s: %s; rehoming its %d channel(s)",
                            self.node, exc, len(self.channels))
            except Exception:
                log.exception("redis cluster feed: listener on %s failed", self.node)
            finally:
                self.conn = None
                self.connected.clear()
                self._leaving.clear()
                self._release_confirmations()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.disconnect(nowait=True)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, backend.max_backoff)
            await backend.rehome(self)

    async def _serve(self, conn: AbstractConnection) -> None:
        # No await between publishing the connection and taking the snapshot: a concurrent
        # add() is either in the snapshot or sends its own SSUBSCRIBE on this connection.
        self.conn = conn
        self.connected.set()
        channels = list(self.channels)
        self.backend.resync.update(channels)
        if channels:  # one SSUBSCRIBE per channel: several in one would need one slot
            await conn.send_packed_command(conn.pack_commands(
                [("SSUBSCRIBE", channel) for channel in channels]), check_health=False)
        log.info("redis cluster feed: listening on %s, %d channel(s) to resync",
                 self.node, len(channels))
        awaiting_pong = False
        while True:
            reply = await conn.read_response(timeout=self.backend.health_check_interval)
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
            return  # PONG
        kind, channel = bytes(reply[0]), bytes(reply[1]).decode()
        if kind == b"smessage":
            self.backend.emit(Event(channel, bytes(reply[2]).decode()))
        elif kind == b"ssubscribe":
            confirmed = self._confirmations.pop(channel, None)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            self.backend.confirmed(channel)
        elif kind == b"sunsubscribe":
            leaving = self._leaving.pop(channel, 0)
            if leaving > 1:
                self._leaving[channel] = leaving - 1
            if not leaving and channel in self.channels:
                # not asked for: the server dropped it (its slot moved to another master)
                raise ShardMoved(f"{self.node} no longer serves {channel!r}")

    def _release_confirmations(self) -> None:
        for confirmed in self._confirmations.values():
            if not confirmed.done():
                confirmed.set_result(None)
        self._confirmations.clear()
