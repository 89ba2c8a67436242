"""What every resolver gets as `info.context`: the shared services, the caller and fresh loaders;
web/view.py's get_context builds one per request (or per WebSocket operation)."""

from __future__ import annotations

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
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        # A WebSocket context lives as long as the socket: no cache, only batching.
        self.loaders = Loaders(self.inventory.pool, cache=self.cache, model=self.feed.read_model)

    @property
    def idempotency_scope(self) -> str:
        return self.principal.idempotency_scope if self.principal else "-"


Info = StrawberryInfo[Context, None]
