"""A sale a store made while offline, its input rules, and where a hold it uncovers goes (used by
resolvers.sales, service.sales and store.hold_moves)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.errors import InvalidInput
from domain.model import available_quantity as available
from domain.rules import Limits, check_all, check_code, check_quantity, check_text

MAX_SALES = 500

Level = tuple[int, int]  # (SKU id, location id)


@dataclass(frozen=True, slots=True)
class Sale:
    sku: str
    quantity: int
    happened_at: datetime
    reference: str | None
    idempotency_key: str


def check_sales(location: str, sales: Sequence[Sale]) -> None:
    """The call as a whole: the location's code and how many sales (1 to MAX_SALES)."""
    check_code(location, ["location"])
    if not sales:
        raise InvalidInput("at least one sale", ["sales"])
    if len(sales) > MAX_SALES:
        raise InvalidInput(f"at most {MAX_SALES} sales per call", ["sales"])


def check_sale(sale: Sale, limits: Limits) -> None:
    """One sale's own fields (named as in SaleInput; the caller places them under the sale)."""
    check_all(
        lambda: check_code(sale.sku, ["sku"]),
        lambda: check_quantity(sale.quantity, ["quantity"], limits),
        lambda: _check_zone(sale.happened_at, ["happenedAt"]),
        lambda: check_text(sale.reference, ["reference"]),
        lambda: check_text(sale.idempotency_key, ["idempotencyKey"], required=True),
    )


def _check_zone(when: datetime, field: list[str | int]) -> None:
    if when.tzinfo is None:
        raise InvalidInput("a time with its offset (e.g. 2026-12-07T10:15:00Z)", field)


@dataclass(frozen=True, slots=True)
class Held:
    """An ACTIVE hold at the sold level, its row locked: what it holds of each SKU at
    `location_id` (a plain hold: its own SKU), the channel's locations in priority order
    (None: no channel) and its owner key's locations (None: every location)."""

    id: str
    code: str
    location_id: int
    parts: tuple[tuple[int, str, int], ...]  # (SKU id, code, units), in SKU-id order
    owner: int | None
    reference: str | None
    among: tuple[int, ...] | None
    within: frozenset[int] | None
    is_bundle: bool
    lapsed: bool = False  # past its expiry, not yet expired: it is expired, not moved


def destination(hold: Held, levels: Mapping[Level, list[int]]) -> int | None:
    """Where the whole hold fits (every part, after safety stock), never where it is: the
    channel's first such location, else the one where the most is available (by how often the
    hold fits, then its scarcest part's spare units; ties: the oldest location)."""
    def fit(location: int) -> tuple[int, int] | None:
        room = []
        for sku_id, _, units in hold.parts:
            level = levels.get((sku_id, location))
            if level is None:
                return None
            room.append((available(*level) // units, available(*level) - units))
        times, spare = min(n for n, _ in room), min(s for _, s in room)
        return (times, spare) if times >= 1 else None

    if not hold.parts:  # a bundle hold always has its component rows
        return None
    places = [loc for loc in sorted({loc for sku_id, loc in levels if sku_id == hold.parts[0][0]})
              if loc != hold.location_id and (hold.within is None or loc in hold.within)]
    if hold.among is not None:
        return next((loc for loc in hold.among if loc in places and fit(loc)), None)
    fits = [(-f[0], -f[1], loc) for loc in places if (f := fit(loc)) is not None]
    return min(fits)[2] if fits else None
