"""Queues a webhook delivery per endpoint that wants it for every ledger entry and availability
change (the "webhooks" ledger tail, bootstrap/partners.py), and again on replay (the API).

Each carries the traceparent of the mutation that committed its entry when this instance knows
it (ops/trace_links.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta

import asyncpg

from domain.changes import LedgerChange
from domain.webhooks import WebhookEndpoint
from feed import cloudevents
from ops import trace_links
from store import cursors
from store import webhook_deliveries as store
from store import webhook_endpoints as endpoints_store

SINK = "webhooks"
# An endpoint is not sent entries that occurred this long before it was created. The fan-out
# runs behind the ledger after an outage (of the database, of every instance); without this
# bound a new endpoint would be flooded with events from before it existed. The tail's
# transactions last far less than this, so nothing committed after the endpoint is skipped.
BEFORE_CREATION = timedelta(seconds=60)


def deliveries(
    endpoints: Sequence[WebhookEndpoint], changes: Sequence[LedgerChange], source: str,
    *, replay: bool = False,
) -> list[store.Queued]:
    """Per change in order, the stock event then the availability changes it caused (the SKU's,
    then its bundles'), each for every endpoint that wants its type and subject SKU (with
    `replay`, also entries from before the endpoint). A delivery's queue is its subject's: a
    bundle's events queue under the bundle, in the order the round computed them (its figures'
    row, locked by feed/bundle_feed.py, orders them across rounds), `sequence` their cause's."""
    out: list[store.Queued] = []
    for change in changes:
        event = change.event
        wanting = [e for e in endpoints
                   if replay or event.occurred_at >= e.created_at - BEFORE_CREATION]
        if not wanting:
            continue
        kind = cloudevents.STOCK_TYPE + event.kind.value.lower()
        origin = trace_links.traceparent(event)  # known if it was committed here lately
        documents = [(kind, event.sku, cloudevents.stock_id(event),
                      cloudevents.stock_event(event, source))]
        documents += [(cloudevents.AVAILABILITY_TYPE, moved.sku,
                       cloudevents.availability_id(moved),
                       cloudevents.availability_event(moved, source))
                      for moved in change.availability_changes]
        for event_type, subject, event_id, document in documents:
            body: bytes | None = None
            for endpoint in wanting:
                if endpoint.wants(event_type, subject):
                    body = body or cloudevents.encode(document)
                    out.append(store.Queued(endpoint.id, event_id, event_type, subject,
                                            event.sequence, body, origin))
    return out


class WebhookFanout:
    """The tail's handler: every endpoint, enabled or not, gets what it wants queued in the
    tail's transaction (a disabled endpoint's queue waits for it to be re-enabled)."""

    name = SINK

    def __init__(self, source: str, wake: Callable[[], None] = lambda: None) -> None:
        self.source = source
        self.wake = wake
        self.queued = False  # this round queued something: wake the delivery once committed

    async def handle(
        self, conn: asyncpg.Connection, changes: Sequence[LedgerChange]
    ) -> Mapping[int, int]:
        self.queued = False
        # every endpoint, enabled or not (a disabled one queues: re-enabling delivers it)
        endpoints = await endpoints_store.every(conn) if changes else []
        queued = deliveries(endpoints, changes, self.source)
        await store.queue(conn, queued)
        self.queued = bool(queued)
        return {change.sku_id: change.event.sequence for change in changes}

    async def idle(self, conn: asyncpg.Connection) -> bool:
        """No endpoint, and none can be created before the tail has skipped to the heads: what
        is committed after an endpoint's creation is always fanned out to it."""
        return await endpoints_store.none_until_commit(conn)

    def committed(self) -> None:
        """The tail's round committed: the delivery loop now finds what it queued (woken
        before the commit, it would find nothing)."""
        if self.queued:
            self.queued = False
            self.wake()


async def replay(
    conn: asyncpg.Connection, endpoint: WebhookEndpoint, sku: str, after_sequence: int, *,
    limit: int, source: str,
) -> int:
    """Within the caller's transaction, queues again (new PENDING deliveries, the same event
    ids) every event of `sku` after `after_sequence` that the endpoint's filters want, reading
    at most `limit` ledger entries; returns how many deliveries were queued."""
    found = await store.sku_id(conn, sku)
    if found is None or limit <= 0:
        return 0
    changes = (await cursors.entries(conn, {found: after_sequence}, limit))[:limit]
    queued = deliveries([endpoint], changes, source, replay=True)
    await store.queue(conn, queued)
    return len(queued)
