"""Ingestion from NATS JetStream, opened and closed here when INGEST_STREAM_URL and INGEST_SUBJECTS
are set: the ingester's lock loop as a task (bootstrap/lifespan.py opens it with the services)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from bootstrap.resources import database_url
from feed.ingest_source import IngestSource, SourceSettings
from feed.relay import shown
from service.access import Gatekeeper
from service.ingest_lead import lead
from service.ingester import Ingester
from service.inventory import Inventory
from settings import Settings
from store import leases

log = logging.getLogger("inventory")


@contextlib.asynccontextmanager
async def open_ingest(
    settings: Settings, inventory: Inventory, gatekeeper: Gatekeeper
) -> AsyncIterator[Ingester | None]:
    """Runs the ingester's lock loop until the block exits (None when ingestion is off)."""
    s = settings.ingest
    if not s.wanted or s.url is None:
        yield None
        return
    ingester = Ingester(inventory, gatekeeper, s, IngestSource(SourceSettings.from_settings(s)))
    dsn = database_url(settings)
    log.info("ingest: NATS %s stream %s (%s), consumer %s, dead letters on %s; applied by the "
             "instance holding the ingest lock", shown(s.url), s.stream, ", ".join(s.subjects),
             s.consumer, s.dead_letter_subject)
    task = asyncio.create_task(lead(
        lambda: leases.connect(dsn, "inventory-ingest"), ingester.consume, retry=s.retry))
    try:
        yield ingester
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
