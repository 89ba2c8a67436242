from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info as StrawberryInfo

from feed.hub import StockFeed
from resolvers.loaders import Loaders
from service.inventory import Inventory


@dataclass
class Context:
    """Per request (or per WebSocket operation): fresh loaders over the shared inventory."""

    inventory: Inventory
    feed: StockFeed
    request: Any = None
    response: Any = None
    principal: str = "-"
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.inventory.pool)


Info = StrawberryInfo[Context, None]
