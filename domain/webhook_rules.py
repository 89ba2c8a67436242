"""The rules a webhook endpoint's settings must meet (URL, event types, SKU filter, caps, ids):
pure checks naming the field at fault, run by resolvers/webhooks.py and service/webhooks.py."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from domain.errors import InvalidInput, NotFound
from domain.network import literal_address, private_address
from domain.rules import text_fault

MAX_URL_LENGTH = 2048
MAX_EVENT_TYPES = 50
MAX_SKUS = 1000
# Ledger entries one replayWebhookEvents call may queue again (the newest of the SKU).
MAX_REPLAY_EVENTS = 10_000
# An endpoint id as the API shows it: the row's bigint in decimal, no sign, no leading zero.
_ID = re.compile(r"[1-9][0-9]{0,18}")
_MAX_ID = 2**63 - 1
# Spaces and control characters: a URL with them is ambiguous between parsers.
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL points: its host (brackets of an IPv6 literal removed) and port."""

    host: str
    port: int


def check_url(url: str, field: Sequence[str | int]) -> Target:
    """http(s) only, a host, no userinfo, at most MAX_URL_LENGTH characters."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"a URL has at most {MAX_URL_LENGTH} characters", field)
    if text_fault(url, MAX_URL_LENGTH) is not None or _UNSAFE.search(url):
        raise InvalidInput("a URL must not contain spaces or control characters", field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput("not a valid URL", field) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput("only http:// and https:// URLs are allowed", field)
    if "@" in parts.netloc:
        raise InvalidInput("a URL must not carry a user name or password", field)
    host = parts.hostname
    if not host:
        raise InvalidInput("a URL needs a host", field)
    return Target(host=host, port=port or (443 if parts.scheme.lower() == "https" else 80))


def check_addresses(
    host: str, addresses: Sequence[str], field: Sequence[str | int], *, allow_private: bool
) -> None:
    """Refuses a host that resolves to a private, loopback or link-local address (any of
    them: a partner's host is public) unless private networks are allowed."""
    if allow_private:
        return
    for address in addresses:
        if private_address(address):
            raise InvalidInput(
                f"{host} resolves to a private, loopback or link-local address "
                "(WEBHOOK_ALLOW_PRIVATE_NETWORKS allows it)", field,
            )


def literal_host(target: Target) -> str | None:
    """The target's host when it is an IP address already (no lookup needed)."""
    return literal_address(target.host)


def check_event_types(
    types: Sequence[str], known: Sequence[str], field: Sequence[str | int]
) -> list[str]:
    if len(types) > MAX_EVENT_TYPES:
        raise InvalidInput(f"at most {MAX_EVENT_TYPES} event types", field)
    seen: set[str] = set()
    for index, value in enumerate(types):
        if value not in known:
            shown = value if text_fault(value, 100) is None else "this value"
            raise InvalidInput(
                f"unknown event type {shown!r}; known: {', '.join(known)}", [*field, index]
            )
        if value in seen:
            raise InvalidInput(f"event type {value!r} is listed twice", [*field, index])
        seen.add(value)
    return list(types)


def check_skus(skus: Sequence[str], field: Sequence[str | int]) -> list[str]:
    """SKU codes to deliver (they need not exist yet: a filter may name a SKU made later)."""
    if len(skus) > MAX_SKUS:
        raise InvalidInput(f"at most {MAX_SKUS} SKUs", field)
    seen: set[str] = set()
    for index, code in enumerate(skus):
        if not code.strip():
            raise InvalidInput("must not be blank", [*field, index])
        if (fault := text_fault(code)) is not None:
            raise InvalidInput(fault, [*field, index])
        if code in seen:
            raise InvalidInput(f"SKU {code!r} is listed twice", [*field, index])
        seen.add(code)
    return list(skus)


def endpoint_id(value: str, field: Sequence[str | int]) -> int:
    """The row id an endpoint's API id stands for; anything else names no endpoint."""
    if not _ID.fullmatch(value) or int(value) > _MAX_ID:
        raise NotFound("no webhook endpoint has this id", field)
    return int(value)


def check_endpoint_cap(existing: int, maximum: int, field: Sequence[str | int]) -> None:
    if existing >= maximum:
        raise InvalidInput(
            f"at most {maximum} webhook endpoints (WEBHOOK_MAX_ENDPOINTS); delete one first",
            field,
        )


def check_replay(after_sequence: int, head: int, field: Sequence[str | int]) -> None:
    """afterSequence is a position in the SKU's ledger; one call replays at most
    MAX_REPLAY_EVENTS ledger entries, the newest ones."""
    if after_sequence < 0:
        raise InvalidInput("afterSequence must not be negative", field)
    if head - after_sequence > MAX_REPLAY_EVENTS:
        raise InvalidInput(
            f"at most {MAX_REPLAY_EVENTS} events per call: the SKU's ledger is at {head}, "
            f"so afterSequence must be at least {head - MAX_REPLAY_EVENTS}", field,
        )


def check_replayable(sku: str, is_bundle: bool, field: Sequence[str | int]) -> None:
    """A replay reads the SKU's ledger; a bundle has none: its availability events are computed
    once, as its components' entries are handed on, and are not replayable."""
    if is_bundle:
        raise InvalidInput(
            f"{sku!r} is a bundle: bundle availability events are not replayable (a bundle "
            "has no ledger); its current figures are on sku(code:)", field,
        )
