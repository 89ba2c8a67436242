"""One webhook attempt over HTTP: the signed POST, and the connector that refuses private
addresses at connect time (DNS rebinding); feed/webhook_delivery.py makes each attempt."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from domain.network import literal_address, private_address
from feed.webhook_signing import headers
from store.webhook_deliveries import Attempt

CONTENT_TYPE = "application/cloudevents+json"
USER_AGENT = "inventory-webhooks/1"
BODY_CAP = 1024  # of a response, read for the error text at most


@dataclass(frozen=True, slots=True)
class Answer:
    """How an attempt ended: `status` None if no response came; `error` None for a 2xx."""

    status: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.error is None

    @property
    def gone(self) -> bool:
        return self.status == 410


class PrivateAddress(OSError):
    """The host resolved only to addresses the delivery may not connect to."""


class GuardedResolver(AbstractResolver):
    """Resolves as aiohttp would, then drops private, loopback and link-local addresses: a
    host that resolves only to such addresses cannot be connected to."""

    def __init__(self) -> None:
        self.inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        allowed = [r for r in found if not private_address(r["host"])]
        if not allowed:
            refused = ", ".join(sorted({r["host"] for r in found}))
            raise PrivateAddress(f"refused: {host} resolves only to private addresses ({refused})")
        return allowed

    async def close(self) -> None:
        await self.inner.close()


def session(concurrency: int, allow_private: bool) -> aiohttp.ClientSession:
    """The delivery's one HTTP client: no proxies from the environment, no cookies, and
    (unless `allow_private`) the guarded resolver."""
    connector = aiohttp.TCPConnector(
        limit=concurrency, limit_per_host=0,
        resolver=None if allow_private else GuardedResolver())
    return aiohttp.ClientSession(connector=connector, trust_env=False,
                                 cookie_jar=aiohttp.DummyCookieJar(),
                                 headers={"user-agent": USER_AGENT})


def refusal(url: str, allow_private: bool) -> str | None:
    """Why `url` may not be called at all (scheme, a literal private address), or None."""
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return "refused: only http and https URLs are called"
    literal = literal_address(parsed.host)
    if not allow_private and literal is not None and private_address(literal):
        return f"refused: {literal} is a private address"
    return None


async def post(session: aiohttp.ClientSession, attempt: Attempt, *, timeout: float,
               allow_private: bool) -> Answer:
    """POSTs the attempt's CloudEvent, signed with its secrets; redirects are not followed."""
    refused = refusal(attempt.url, allow_private)
    if refused is not None:
        return Answer(None, refused)
    secrets = [attempt.secret] + ([attempt.previous_secret] if attempt.previous_secret else [])
    sent = headers(secrets, attempt.event_id, int(time.time()), attempt.body)
    sent["content-type"] = CONTENT_TYPE
    sent["webhook-attempt"] = str(attempt.attempts)
    try:
        async with asyncio.timeout(timeout), session.post(
            attempt.url, data=attempt.body, headers=sent, allow_redirects=False,
        ) as response:
            status = response.status
            text = await response.content.read(BODY_CAP)  # a small body: keep-alive
    except TimeoutError:
        return Answer(None, f"timed out after {timeout:g}s")
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, PrivateAddress):
            return Answer(None, str(exc.os_error))
        return Answer(None, f"connection failed: {exc}"[:500])
    except (aiohttp.ClientError, OSError) as exc:
        return Answer(None, f"connection failed: {type(exc).__name__}: {exc}"[:500])
    if 200 <= status < 300:
        return Answer(status, None)
    detail = text.decode(errors="replace").strip()[:200]
    kind = " (redirects are not followed)" if 300 <= status < 400 else ""
    return Answer(status, f"HTTP {status}{kind}" + (f": {detail}" if detail else ""))
