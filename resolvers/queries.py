from __future__ import annotations

import base64
import binascii

import strawberry
from graphql import GraphQLError

from domain.rules import is_reservation_id
from resolvers.context import Info
from schema.inputs import SkuFilter
from schema.types import (
    Location,
    PageInfo,
    Reservation,
    Sku,
    SkuConnection,
    SkuEdge,
    StockEvent,
)
from store import catalog, ledger, reservations, rows

MAX_PAGE = 500
MAX_CODES = 500
MAX_EVENTS = 1000


def _bad_input(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


def _page_size(first: int | None, maximum: int, name: str = "first") -> int:
    if first is None:
        return maximum
    if not 0 <= first <= maximum:
        raise _bad_input(f"`{name}` must be between 0 and {maximum}")
    return first


def encode_cursor(code: str) -> str:
    return base64.urlsafe_b64encode(code.encode()).decode()


def decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise _bad_input("`after` is not a cursor this server issued") from None


async def sku(info: Info, code: str) -> Sku | None:
    found = await info.context.loaders.sku.load(code)
    return Sku.from_domain(found) if found else None


async def skus(
    info: Info,
    first: int | None = 50,
    after: str | None = None,
    filter: SkuFilter | None = None,
) -> SkuConnection:
    limit = _page_size(first, MAX_PAGE)
    async with info.context.inventory.pool.acquire() as conn:
        page = await catalog.skus_page(
            conn,
            after=decode_cursor(after) if after else None,
            limit=limit + 1,
            search=filter.search if filter else None,
            status=filter.status.value if filter and filter.status else None,
            location=filter.location if filter else None,
        )
    edges = [SkuEdge(cursor=encode_cursor(s.code), node=Sku.from_domain(s)) for s in page[:limit]]
    return SkuConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(page) > limit,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


async def skus_by_code(info: Info, codes: list[str]) -> list[Sku]:
    _page_size(len(codes), MAX_CODES, "codes")
    found = await info.context.loaders.sku.load_many(codes)
    return [Sku.from_domain(s) for s in found if s is not None]


async def location(info: Info, code: str) -> Location | None:
    found = await info.context.loaders.location_by_code.load(code)
    return Location.from_domain(found) if found else None


async def locations(info: Info) -> list[Location]:
    async with info.context.inventory.pool.acquire() as conn:
        return [Location.from_domain(loc) for loc in await catalog.all_locations(conn)]


async def reservation(info: Info, id: strawberry.ID) -> Reservation | None:
    if not is_reservation_id(id):
        return None
    async with info.context.inventory.pool.acquire() as conn:
        r = await reservations.get(conn, id)
    return Reservation.from_domain(rows.reservation(r, r["sku"])) if r else None


async def stock_events(
    info: Info, sku: str, after_sequence: int | None = 0, first: int | None = 100
) -> list[StockEvent]:
    limit = _page_size(first, MAX_EVENTS)
    async with info.context.inventory.pool.acquire() as conn:
        events = await ledger.events_after(conn, sku, after_sequence or 0, limit)
    return [StockEvent.from_domain(e) for e in events]
