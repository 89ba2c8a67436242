"""Resolvers of the queries: check the arguments (page sizes, cursors, the text rule), read
through service.views, return domain values (bound by schema.query)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from graphql import GraphQLError

from domain.model import AvailabilityStatus, Location, Reservation, Sku, StockEvent
from domain.ownership import reservation_for
from domain.rules import is_reservation_id, text_fault
from resolvers.context import Info
from service import views

MAX_PAGE = 500
MAX_CODES = 500
MAX_EVENTS = 1000


@dataclass(frozen=True, slots=True)
class SkuPage:
    skus: list[Sku]
    has_next_page: bool
    has_previous_page: bool = False


def _bad_input(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


def text_argument(value: str, name: str) -> str:
    """domain.rules' text rule for a query argument: a bad one is BAD_USER_INPUT."""
    if (fault := text_fault(value)) is not None:
        raise _bad_input(f"`{name}` {fault}")
    return value


def page_size(first: int | None, maximum: int, name: str = "first") -> int:
    """A list argument's page size (None: the maximum); outside 0..maximum BAD_USER_INPUT."""
    if first is None:
        return maximum
    if not 0 <= first <= maximum:
        raise _bad_input(f"`{name}` must be between 0 and {maximum}")
    return first


def encode_cursor(code: str) -> str:
    return base64.urlsafe_b64encode(code.encode()).decode()


def decode_cursor(cursor: str) -> str:
    try:
        code = base64.urlsafe_b64decode(text_argument(cursor, "after")).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise _bad_input("`after` is not a cursor this server issued") from None
    if text_fault(code) is not None:
        raise _bad_input("`after` is not a cursor this server issued")
    return code


async def sku(info: Info, code: str) -> Sku | None:
    return await info.context.loaders.sku.load(text_argument(code, "code"))


async def skus(
    info: Info, *, first: int | None, after: str | None, search: str | None,
    status: AvailabilityStatus | None, location: str | None,
) -> SkuPage:
    limit = page_size(first, MAX_PAGE)
    for value, name in ((search, "search"), (location, "location")):
        if value is not None:
            text_argument(value, name)
    cursor = decode_cursor(after) if after else None
    reads = info.context.reads  # both statements see the same database (a replica may lag)
    status_code = status.value if status else None
    page = await views.sku_page(
        reads, after=cursor, limit=limit + 1, search=search, status=status_code,
        location=location,
    )
    # Relay: with `after`, something precedes the first edge if the filter keeps a SKU at or
    # before the cursor (the cursor's own SKU, unless it was deleted or filtered out since)
    previous = cursor is not None and await views.any_sku_up_to(
        reads, cursor, search=search, status=status_code, location=location
    )
    return SkuPage(page[:limit], has_next_page=len(page) > limit, has_previous_page=previous)


async def skus_by_code(info: Info, codes: list[str]) -> list[Sku]:
    page_size(len(codes), MAX_CODES, "codes")
    for code in codes:
        text_argument(code, "codes")
    found = await info.context.loaders.sku.load_many(codes)
    return [s for s in found if s is not None]


async def location(info: Info, code: str) -> Location | None:
    return await info.context.loaders.location_by_code.load(text_argument(code, "code"))


async def locations(info: Info) -> list[Location]:
    return await views.locations(info.context.reads)


async def reservation(info: Info, id: str) -> Reservation | None:
    if not is_reservation_id(id):
        return None
    found = await views.reservation(info.context.reads, id)
    return reservation_for(found, info.context.principal) if found is not None else None


async def stock_events(
    info: Info, sku: str, after_sequence: int | None, first: int | None
) -> list[StockEvent]:
    limit = page_size(first, MAX_EVENTS)
    text_argument(sku, "sku")
    return await views.events_after(info.context.reads, sku, after_sequence or 0, limit)
