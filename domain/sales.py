"""A sale a store made while offline, as recordSales takes it, and its input rules (used by
resolvers.sales and service.sales)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.errors import InvalidInput
from domain.rules import Limits, check_all, check_code, check_quantity, check_text

MAX_SALES = 500


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
