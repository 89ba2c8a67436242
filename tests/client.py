"""A small GraphQL-over-HTTP client for tests (aiohttp, real sockets)."""

from __future__ import annotations

from typing import Any

import aiohttp


class GraphQLClient:
    def __init__(self, url: str, session: aiohttp.ClientSession, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.session = session
        self.headers = headers or {}

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        async with self.session.post(
            self.url, json={"query": query, "variables": variables or {}}, headers=self.headers
        ) as response:
            body: dict[str, Any] = await response.json(content_type=None)
            return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self.post(query, variables)
        assert "errors" not in body, body
        result: dict[str, Any] = body["data"]
        return result
