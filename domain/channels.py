"""The rules of sales channels: a channel's location list, and the locations a hold through a
channel may be taken at (used by resolvers.channels, resolvers.reservations and store/)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from domain.errors import InvalidInput, Rejected, StockError
from domain.rules import check_code

MAX_CHANNEL_LOCATIONS = 100


def check_channel_locations(codes: Sequence[str], field: Sequence[str | int]) -> None:
    """Non-empty, at most MAX_CHANNEL_LOCATIONS, each a code, none twice."""
    if not codes:
        raise InvalidInput("a channel needs at least one location", field)
    if len(codes) > MAX_CHANNEL_LOCATIONS:
        raise InvalidInput(f"a channel has at most {MAX_CHANNEL_LOCATIONS} locations", field)
    errors: list[StockError] = []
    seen: set[str] = set()
    for index, code in enumerate(codes):
        try:
            check_code(code, [*field, index])
        except StockError as error:
            errors.append(error)
        if code in seen:
            errors.append(InvalidInput(f"location {code!r} is listed twice", [*field, index]))
        seen.add(code)
    if errors:
        raise errors[0] if len(errors) == 1 else Rejected(errors)


def sourcing(
    channel_locations: Sequence[int], named: int | None, within: Collection[int] | None,
) -> list[int]:
    """The locations, in priority order, a hold through the channel may take: the named one
    (INVALID_INPUT, field "location", if the channel does not sell from it), else the
    channel's, narrowed to `within` (a location-bound key's own; None: all)."""
    if named is not None:
        if named not in channel_locations:
            raise InvalidInput("this location is not one of the channel's", ["location"])
        return [named]
    return [lid for lid in channel_locations if within is None or lid in within]


def split_hold(ordered: Sequence[tuple[int, int]], quantity: int) -> list[tuple[int, int]] | None:
    """allowSplit's plan over (location, available) in fill order: the first location that can
    hold it all, else as much as each can hold in turn until `quantity` is covered; None when
    all of them together cannot (all or nothing)."""
    for location, available in ordered:
        if available >= quantity:
            return [(location, quantity)]
    plan: list[tuple[int, int]] = []
    left = quantity
    for location, available in ordered:
        if left == 0:
            break
        if available > 0:
            take = min(available, left)
            plan.append((location, take))
            left -= take
    return plan if left == 0 else None


def check_split(allow_split: bool, location: str | None, field: Sequence[str | int]) -> None:
    if allow_split and location is not None:
        raise InvalidInput("allowSplit holds at several locations: leave `location` out", field)
