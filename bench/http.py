"""A lean HTTP/1.1 keep-alive client: one asyncio Protocol per connection, no per-request
objects beyond the response bytes, so the load generator spends little of the shared CPU."""

from __future__ import annotations

import asyncio
from typing import cast
from urllib.parse import urlencode

import orjson


class HttpError(Exception):
    pass


class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        self.last_etag = ""  # the ETag header of the last response, if any

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError(f"connection lost: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:head_end]).lower()
        status = int(head[9:12])
        start = head.find(b"content-length:")
        if status in (204, 304):  # no body, and no length to say so
            length = 0
        elif start < 0:
            self.waiter.set_exception(HttpError("response without content-length"))
            return
        else:
            end = head.find(b"\r\n", start)
            length = int(head[start + 15:end if end >= 0 else len(head)])
        total = head_end + 4 + length
        if len(self.buffer) < total:
            return
        tag = head.find(b"\r\netag:")
        if tag >= 0:
            end = head.find(b"\r\n", tag + 2)
            self.last_etag = bytes(self.buffer[tag + 7:end if end >= 0 else head_end]).strip(
                ).decode()
        body = bytes(self.buffer[head_end + 4:total])
        del self.buffer[:total]
        waiter, self.waiter = self.waiter, None
        if not waiter.done():
            waiter.set_result((status, body))

    async def request(self, payload: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        if self.closed:
            raise HttpError("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        async with asyncio.timeout(60):
            return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class GraphQLClient:
    """POSTs GraphQL documents to /graphql over one kept-alive connection."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.head = (f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     f"Content-Type: application/json\r\nAccept: application/json\r\n{auth}"
                     "Content-Length: ").encode()
        self.connection: Connection | None = None

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, self.connection = await loop.create_connection(Connection, "127.0.0.1", self.port)

    def encode(self, query: str, variables: dict[str, object]) -> bytes:
        body = orjson.dumps({"query": query, "variables": variables})
        return self.head + str(len(body)).encode() + b"\r\n\r\n" + body

    def encode_get(self, params: dict[str, str], etag: str | None = None) -> bytes:
        """A GET of /graphql with `params` in the URL, revalidating `etag` if given."""
        head = self.head.split(b"\r\n", 1)[1].replace(b"Content-Type: application/json\r\n", b"")
        head = head.rsplit(b"Content-Length: ", 1)[0]
        query = urlencode(params).encode()
        revalidate = f"If-None-Match: {etag}\r\n".encode() if etag else b""
        return b"GET /graphql?" + query + b" HTTP/1.1\r\n" + head + revalidate + b"\r\n"

    def encode_body(self, body: dict[str, object]) -> bytes:
        """A POST of any JSON body (a persisted query's hash, say)."""
        raw = orjson.dumps(body)
        return self.head + str(len(raw)).encode() + b"\r\n\r\n" + raw

    async def post(self, payload: bytes) -> tuple[int, bytes]:
        if self.connection is None or self.connection.closed:
            await self.connect()
        assert self.connection is not None
        return await self.connection.request(payload)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
