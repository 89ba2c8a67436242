"""The webhook API's use cases: create, change, delete, rotate, replay, retry, and the reads
(called by resolvers/webhooks.py; the delivery itself is feed/webhook_delivery.py's)."""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg

from domain.errors import InvalidInput, NotFound, StockError
from domain.outcome import Outcome
from domain.webhook_rules import (
    MAX_REPLAY_EVENTS,
    check_addresses,
    check_endpoint_cap,
    check_replay,
    check_replayable,
    check_url,
    literal_host,
)
from domain.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from feed import webhook_fanout
from service.inventory import Inventory
from service.recording import Command
from settings.partners import PartnerSettings
from store import webhook_deliveries
from store import webhook_endpoints as endpoints_store

log = logging.getLogger("service.webhooks")

RESOLVE_TIMEOUT = 5.0  # seconds for the DNS lookup of a new URL's host
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


@dataclass(slots=True)
class WebhookOutcome:
    """What a webhook mutation produced, or the business error that changed nothing."""

    endpoint: WebhookEndpoint | None = None
    secret: str | None = None  # only from create and rotate
    queued: int = 0
    error: StockError | None = None


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


async def check_host(url: str, field: Sequence[str | int], partners: PartnerSettings) -> None:
    """Refuses a URL whose host is, or resolves to, a private, loopback or link-local address
    (unless WEBHOOK_ALLOW_PRIVATE_NETWORKS); the delivery checks again at connect time."""
    if partners.webhook_allow_private_networks:
        return
    target = check_url(url, field)
    literal = literal_host(target)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT):
                found = await asyncio.get_running_loop().getaddrinfo(
                    target.host, target.port, type=socket.SOCK_STREAM
                )
        except (OSError, TimeoutError, UnicodeError):
            raise InvalidInput(f"the host {target.host} could not be resolved", field) from None
        addresses = [str(info[4][0]) for info in found]
        if not addresses:
            raise InvalidInput(f"the host {target.host} has no address", field)
    check_addresses(target.host, addresses, field, allow_private=False)


Step = Callable[[asyncpg.Connection], Awaitable[WebhookOutcome]]


async def _run(inventory: Inventory, command: Command, step: Step) -> WebhookOutcome:
    """One transaction in the unit of work; a StockError rolls it back into the outcome."""
    result = WebhookOutcome()

    async def work(conn: asyncpg.Connection) -> Outcome:
        nonlocal result
        result = await step(conn)
        return Outcome()

    outcome = await inventory.mutate(work, command=command, arguments={})
    if outcome.error is not None:
        return WebhookOutcome(error=outcome.error)
    return result


def _logged(command: Command, verb: str, result: WebhookOutcome) -> WebhookOutcome:
    """One INFO line per changed endpoint: its id and host, never its secret."""
    found = result.endpoint
    if result.error is None and found is not None:
        host = _host(found.url)
        log.info("webhook endpoint %d %s (%s)", found.id, verb, host, extra={
            "operation": command.value, "endpoint": found.id, "host": host,
        })
    return result


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:  # a row written by hand
        return "?"


def _refused(error: StockError) -> WebhookOutcome:
    return WebhookOutcome(error=error)


async def create_endpoint(
    inventory: Inventory, partners: PartnerSettings, *, url: str, event_types: Sequence[str],
    skus: Sequence[str], created_by: int | None,
) -> WebhookOutcome:
    try:
        await check_host(url, ["url"], partners)
    except StockError as error:
        return _refused(error)
    secret = new_secret()

    async def step(conn: asyncpg.Connection) -> WebhookOutcome:
        check_endpoint_cap(await endpoints_store.lock_creates(conn),
                           partners.webhook_max_endpoints, [])
        made = await endpoints_store.create(conn, url=url, event_types=event_types, skus=skus,
                                            secret=secret, created_by=created_by)
        return WebhookOutcome(endpoint=made, secret=secret)

    command = Command.CREATE_WEBHOOK_ENDPOINT
    return _logged(command, "created", await _run(inventory, command, step))


async def update_endpoint(
    inventory: Inventory, partners: PartnerSettings, endpoint_id: int, *, url: str | None,
    event_types: Sequence[str] | None, skus: Sequence[str] | None, enabled: bool | None,
) -> WebhookOutcome:
    if url is not None:
        try:
            await check_host(url, ["url"], partners)
        except StockError as error:
            return _refused(error)

    async def step(conn: asyncpg.Connection) -> WebhookOutcome:
        changed = await endpoints_store.update(conn, endpoint_id, url=url,
                                               event_types=event_types, skus=skus,
                                               enabled=enabled)
        return WebhookOutcome(endpoint=_found(changed, ["id"]))

    command = Command.UPDATE_WEBHOOK_ENDPOINT
    return _logged(command, "updated", await _run(inventory, command, step))


async def delete_endpoint(inventory: Inventory, endpoint_id: int) -> WebhookOutcome:
    async def step(conn: asyncpg.Connection) -> WebhookOutcome:
        gone = await endpoints_store.delete(conn, endpoint_id)
        return WebhookOutcome(endpoint=_found(gone, ["id"]))

    command = Command.DELETE_WEBHOOK_ENDPOINT
    return _logged(command, "deleted", await _run(inventory, command, step))


async def rotate_secret(
    inventory: Inventory, partners: PartnerSettings, endpoint_id: int
) -> WebhookOutcome:
    secret = new_secret()

    async def step(conn: asyncpg.Connection) -> WebhookOutcome:
        rotated = await endpoints_store.rotate_secret(
            conn, endpoint_id, secret, partners.webhook_secret_overlap
        )
        return WebhookOutcome(endpoint=_found(rotated, ["id"]), secret=secret)

    command = Command.ROTATE_WEBHOOK_SECRET
    return _logged(command, "secret rotated", await _run(inventory, command, step))


async def replay_events(
    inventory: Inventory, partners: PartnerSettings, endpoint_id: int, *, sku: str,
    after_sequence: int,
) -> WebhookOutcome:
    """Queues again, after whatever the endpoint has queued for `sku`, every event it wants
    after `after_sequence` (at most MAX_REPLAY_EVENTS ledger entries)."""

    async def step(conn: asyncpg.Connection) -> WebhookOutcome:
        found = _found(await endpoints_store.find(conn, endpoint_id), ["endpointId"])
        found_sku = await endpoints_store.sku_head(conn, sku)
        if found_sku is None:
            raise NotFound(f"unknown SKU {sku!r}", ["sku"])
        head, is_bundle = found_sku
        check_replayable(sku, is_bundle, ["sku"])
        check_replay(after_sequence, head, ["afterSequence"])
        queued = await webhook_fanout.replay(
            conn, found, sku, after_sequence, limit=MAX_REPLAY_EVENTS,
            source=partners.event_source,
        )
        return WebhookOutcome(endpoint=found, queued=queued)

    result = await _run(inventory, Command.REPLAY_WEBHOOK_EVENTS, step)
    if result.error is None and result.endpoint is not None:
        log.info("webhook endpoint %d: %d deliveries of %s after #%d queued again",
                 result.endpoint.id, result.queued, sku, after_sequence, extra={
                     "operation": Command.REPLAY_WEBHOOK_EVENTS.value,
                     "endpoint": result.endpoint.id, "sku": sku, "queued": result.queued})
    return result


async def retry_dead(inventory: Inventory, endpoint_id: int) -> WebhookOutcome:
    async def step(conn: asyncpg.Connection) -> WebhookOutcome:
        found = _found(await endpoints_store.find(conn, endpoint_id), ["endpointId"])
        queued = await webhook_deliveries.retry_dead(conn, endpoint_id)
        return WebhookOutcome(endpoint=found, queued=queued)

    result = await _run(inventory, Command.RETRY_DEAD_DELIVERIES, step)
    if result.error is None and result.endpoint is not None:
        log.info("webhook endpoint %d: %d dead deliveries queued again", result.endpoint.id,
                 result.queued, extra={"operation": Command.RETRY_DEAD_DELIVERIES.value,
                                       "endpoint": result.endpoint.id, "queued": result.queued})
    return result


def _found(endpoint: WebhookEndpoint | None, field: Sequence[str | int]) -> WebhookEndpoint:
    if endpoint is None:
        raise NotFound("no webhook endpoint has this id", field)
    return endpoint


async def endpoints(pool: asyncpg.Pool) -> list[WebhookEndpoint]:
    return await endpoints_store.every(pool)


async def endpoint(pool: asyncpg.Pool, endpoint_id: int) -> WebhookEndpoint | None:
    return await endpoints_store.find(pool, endpoint_id)


async def deliveries(
    pool: asyncpg.Pool, endpoint_id: int, status: DeliveryStatus | None, first: int
) -> list[WebhookDelivery]:
    """The endpoint's deliveries, newest first."""
    async with pool.acquire() as conn:
        return await webhook_deliveries.deliveries(conn, endpoint_id, status, first)
