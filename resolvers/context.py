"""What every resolver gets as `info.context`: the services, the caller, the pool its reads use
and fresh loaders over it; web/view.py's get_context builds one per request or socket."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info as StrawberryInfo

from domain.access import Principal
from feed.hub import StockFeed
from resolvers.loaders import Loaders
from service.access import AccessError, Gatekeeper
from service.inventory import Inventory
from settings.partners import PartnerSettings


@dataclass
class Context:
    """Per request (or per WebSocket operation): fresh loaders over the shared inventory."""

    inventory: Inventory
    feed: StockFeed
    gatekeeper: Gatekeeper
    request: Any = None
    response: Any = None
    principal: Principal | None = None
    auth_error: AccessError | None = None
    connection_params: Any = None
    cache: bool = True
    # the transport delivers live subscription events itself (resolvers.handoff.Handoff)
    handoff: bool = False
    # the webhook API's settings (SSRF rule, endpoint cap, secret overlap, event source)
    partners: PartnerSettings = field(default_factory=PartnerSettings)
    # SKU streams this connection's bundle subscriptions follow, one per component, and how
    # many they may (resolvers.bundle_feed.following: MAX_SUBSCRIPTIONS_PER_CONNECTION)
    bundle_follows: int = 0
    max_follows: int = 100
    # spends more of the caller's rate budget (a bulk call's lines past its first hundred);
    # False when over it. None: nothing counts (WebSocket operations, tests)
    charge: Callable[[int], Awaitable[bool]] | None = None
    # reads that may be stale (store/read_pool.py over DATABASE_READ_URL), for HTTP requests
    # only; None: every read on the primary
    stale_reads: Any = None
    # the pool this operation's reads and loaders use: the primary's until
    # resolvers/routing.py's ReadRouting picks `stale_reads` for a query that may be stale
    reads: Any = None
    # set by ReadRouting for a query without `consistent`: the read model may answer it
    may_be_stale: bool = False

    def __post_init__(self) -> None:
        if self.reads is None:
            self.reads = self.inventory.pool

    @functools.cached_property
    def loaders(self) -> Loaders:
        """Made on first use, after ReadRouting chose `reads` and whether the read model may
        answer (a query without `consistent`, over HTTP: never a mutation's payload, which
        must see its own commit before this instance's feed has delivered it). A WebSocket
        context lives as long as the socket: no cache, only batching, no read model."""
        model = self.feed.read_model if self.cache and self.may_be_stale else None
        return Loaders(self.reads, cache=self.cache, model=model, primary=self.inventory.pool)

    def release(self) -> None:
        """After an HTTP operation's result is built: its loaders' values go now, not with the
        execution context's reference cycle at the next full collection (Loaders.clear)."""
        loaders = self.__dict__.pop("loaders", None)
        if loaders is not None:
            loaders.clear()

    @property
    def idempotency_scope(self) -> str:
        return self.principal.idempotency_scope if self.principal else "-"


Info = StrawberryInfo[Context, None]
