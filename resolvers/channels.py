"""Resolvers of sales channels: upsertChannel, the channel queries, a SKU's figures through a
channel, and the locations a location-bound key reserves at through one (bound by schema/)."""

from __future__ import annotations

from collections.abc import Sequence

from graphql import GraphQLError

from domain.channels import check_channel_locations
from domain.model import AvailabilityStatus as Status
from domain.model import Channel, StockLevel, availability_status
from domain.outcome import Outcome
from domain.rules import check_code, check_text, text_fault
from resolvers.context import Info
from resolvers.mutation import refused
from resolvers.permissions import access_error, check_locations
from service import channels, views
from service.access import forbidden


async def upsert_channel(info: Info, *, code: str, name: str, locations: list[str]) -> Outcome:
    if (refusal := refused(
        lambda: check_code(code, ["code"]),
        lambda: check_text(name, ["name"], required=True),
        lambda: check_channel_locations(locations, ["locations"]),
    )) is not None:
        return refusal
    return await channels.upsert_channel(
        info.context.inventory, code=code, name=name, locations=locations
    )


async def channel(info: Info, code: str) -> Channel | None:
    if (fault := text_fault(code)) is not None:
        raise GraphQLError(f"`code` {fault}", extensions={"code": "BAD_USER_INPUT"})
    found: Channel | None = await info.context.loaders.channel_by_code.load(code)
    return found


async def every_channel(info: Info) -> list[Channel]:
    return await views.all_channels(info.context.reads)


async def known(info: Info, code: str) -> Channel:
    """The channel a read field names: an unknown one is a GraphQL error NOT_FOUND (as an
    unknown SKU in a subscription), a malformed one BAD_USER_INPUT."""
    if (fault := text_fault(code)) is not None:
        raise GraphQLError(f"`channel` {fault}", extensions={"code": "BAD_USER_INPUT"})
    found: Channel | None = await info.context.loaders.channel_by_code.load(code)
    if found is None:
        raise GraphQLError(f"unknown channel {code!r}", extensions={"code": "NOT_FOUND"})
    return found


def through(channel: Channel, levels: Sequence[StockLevel]) -> int:
    """A SKU's available through `channel`: the sum over the channel's locations only."""
    return sum(level.available for level in levels if level.location_id in channel.location_ids)


async def figures(
    info: Info, sku_id: int, is_bundle: bool, threshold: int, code: str
) -> tuple[int, Status]:
    """A SKU's (or a bundle's, from its derived levels) available and status through `code`."""
    found = await known(info, code)
    available = through(found, await info.context.loaders.levels_of(sku_id, is_bundle))
    return available, availability_status(available, threshold)


async def reserving_within(
    info: Info, channel: str | None, *named: str | None
) -> list[str] | None:
    """The access check of a reserve: a location-bound key must name its own locations, except
    through a channel, where an unnamed location means its own locations within the channel
    (FORBIDDEN if it has none there). Returns those locations (None: no narrowing)."""
    principal = info.context.principal
    if channel is None or principal is None or principal.may_touch(None):
        check_locations(info, *named)
        return None
    check_locations(info, *(location for location in named if location is not None))
    if all(location is not None for location in named):
        return None
    own = sorted(principal.locations or ())
    found = await info.context.loaders.channel_by_code.load(channel)
    if found is not None:
        codes = [loc.code for loc in await info.context.loaders.location.load_many(
            list(found.location_ids))]
        if not any(principal.may_touch(code) for code in codes):
            raise access_error(forbidden(
                f"API key {principal.name!r} may not touch any location of channel {channel!r}"))
    return own
