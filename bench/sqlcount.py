"""Counting the SQL the server sends, on the wire: a TCP relay between the server and
PostgreSQL that parses the frontend protocol (no pg_stat_statements needed, nothing loaded
into PostgreSQL, exact per run). An extended-protocol Execute or each statement of a simple
Query is one statement; each Sync or simple Query is one round trip."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import struct
from urllib.parse import urlsplit, urlunsplit

SSL_REQUEST, GSS_REQUEST = 80877103, 80877104
# What asyncpg's pool sends when a connection is released (Connection.reset()).
HOUSEKEEPING = ("SELECT pg_advisory_unlock_all()", "CLOSE ALL", "UNLISTEN *", "RESET ALL")
TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK")


def _cstring(data: bytes, start: int) -> tuple[str, int]:
    end = data.index(b"\0", start)
    return data[start:end].decode(errors="replace"), end + 1


def _short(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip().rstrip(";")[:90]


class _Parser:
    def __init__(self, counter: WireCounter) -> None:
        self.counter = counter
        self.buffer = bytearray()
        self.startup = True
        self.statements: dict[str, str] = {}
        self.bound = ""

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.startup:
                if len(self.buffer) < 8:
                    return
                (length, code) = struct.unpack("!ii", self.buffer[:8])
                if len(self.buffer) < length:
                    return
                del self.buffer[:length]
                self.startup = code in (SSL_REQUEST, GSS_REQUEST)
                continue
            if len(self.buffer) < 5:
                return
            kind = chr(self.buffer[0])
            (length,) = struct.unpack("!i", self.buffer[1:5])
            if len(self.buffer) < 1 + length:
                return
            message = bytes(self.buffer[5:1 + length])
            del self.buffer[:1 + length]
            self.message(kind, message)

    def message(self, kind: str, data: bytes) -> None:
        c = self.counter
        if kind == "P":
            name, at = _cstring(data, 0)
            self.statements[name], _ = _cstring(data, at)
        elif kind == "B":
            _, at = _cstring(data, 0)
            name, _ = _cstring(data, at)
            self.bound = self.statements.get(name, "?")
        elif kind == "E":
            c.statements[_short(self.bound)] += 1
        elif kind == "S":
            c.round_trips += 1
        elif kind == "Q":
            c.round_trips += 1
            text, _ = _cstring(data, 0)
            for part in text.split(";"):
                if part.strip():
                    c.statements[_short(part)] += 1


class WireCounter:
    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.url_parts = parts
        self.statements: collections.Counter[str] = collections.Counter()
        self.round_trips = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        """Start relaying; returns the URL to give the server instead of the upstream one."""
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        netloc = f"{self.url_parts.username or 'postgres'}@127.0.0.1:{port}"
        query = "sslmode=disable"
        return urlunsplit(self.url_parts._replace(netloc=netloc, query=query))

    def reset(self) -> None:
        self.statements.clear()
        self.round_trips = 0

    def summary(self, requests: int) -> dict[str, object]:
        """Per request: application statements, transaction control, pool housekeeping."""
        app = {s: n for s, n in self.statements.items()
               if s not in HOUSEKEEPING and s.upper() not in TRANSACTION}
        return {
            "requests": requests,
            "statements_per_request": round(sum(app.values()) / requests, 2),
            "begin_commit_per_request": round(sum(
                n for s, n in self.statements.items() if s.upper() in TRANSACTION) / requests, 2),
            "pool_resets_per_request": round(
                self.statements.get("RESET ALL", 0) / requests, 2),
            "round_trips_per_request": round(self.round_trips / requests, 2),
            "by_statement": {s: round(n / requests, 3) for s, n in
                             sorted(app.items(), key=lambda kv: -kv[1])[:8]},
        }

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        parser = _Parser(self)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                       parse: _Parser | None) -> None:
            try:
                while data := await src.read(65536):
                    if parse is not None:
                        parse.feed(data)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        await asyncio.gather(pump(reader, up_writer, parser), pump(up_reader, writer, None))

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)
