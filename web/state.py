"""What the lifespan hands every request and socket (Starlette's lifespan state): the services,
built by bootstrap/lifespan.py, read by the GraphQL view, SSE and the ops routes."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from starlette.requests import HTTPConnection

from feed.hub import StockFeed
from service.access import Gatekeeper
from service.inventory import Inventory
from settings.partners import PartnerSettings
from store.read_pool import ReadPool


@dataclass(frozen=True, slots=True)
class Services:
    inventory: Inventory  # the unit of work (with its group-commit batcher), publishing to `feed`
    feed: StockFeed
    gatekeeper: Gatekeeper
    # the one shared client (feed, rate limit, /readyz); None in-process
    redis: Redis | RedisCluster | None
    partners: PartnerSettings = field(default_factory=PartnerSettings)  # the webhook API's
    reads: ReadPool | None = None  # reads that may be stale (DATABASE_READ_URL); None: primary


def services(connection: HTTPConnection) -> Services:
    found: Services = connection.state.services
    return found
