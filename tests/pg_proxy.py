"""A TCP proxy in the test's event loop between servers and PostgreSQL, which can cut every
connection through it at once (tests/chaos/ and tests/api/test_database_outage.py use it).

Upstream is PostgreSQL's TCP address, or its unix socket when the URL names one (`?host=/dir`,
as the embedded PostgreSQL's does: it listens on no TCP address)."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs, urlsplit, urlunsplit

from tests.conftest import free_port


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, socket_path: str | None = None) -> None:
        self.target = (target_host, target_port)
        self.socket_path = socket_path
        self.port = free_port()
        self.connections = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._pumps: set[asyncio.Task[None]] = set()

    @classmethod
    def to(cls, url: str) -> TcpProxy:
        """A proxy in front of the PostgreSQL that `url` names."""
        parts = urlsplit(url)
        socket_dir = parse_qs(parts.query).get("host", [""])[0]
        port = parts.port or 5432
        if socket_dir.startswith("/"):
            return cls("", port, f"{socket_dir}/.s.PGSQL.{port}")
        return cls(parts.hostname or "127.0.0.1", port)

    def url(self, url: str) -> str:
        """`url` (its user and database) reached through this proxy."""
        parts = urlsplit(url)
        return urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:"
                                         f"{self.port}", query=""))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.socket_path is not None:
                up_reader, up_writer = await asyncio.open_unix_connection(self.socket_path)
            else:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        pair = (writer, up_writer)
        self._open.update(pair)
        pumps = [asyncio.create_task(self._pump(reader, up_writer)),
                 asyncio.create_task(self._pump(up_reader, writer))]
        self._pumps.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in pair:
                w.transport.abort()
                self._open.discard(w)
            for pump in pumps:
                pump.cancel()
            self._pumps.difference_update(pumps)

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()

    def cut(self) -> int:
        """Abort every open connection (both sides, no FIN: as a crashed link); new ones are
        accepted again at once. Returns how many were cut."""
        cut = list(self._open)
        for writer in cut:
            writer.transport.abort()
        self.cuts += 1
        return len(cut) // 2

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for pump in list(self._pumps):
            pump.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self._server.wait_closed()
