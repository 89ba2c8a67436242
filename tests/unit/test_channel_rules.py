"""domain.channels: a channel's location list, where a hold through it may go, allowSplit's
plan."""

from __future__ import annotations

import pytest

from domain.channels import check_channel_locations, check_split, sourcing, split_hold
from domain.errors import InvalidInput, StockError


def test_split_hold_prefers_one_location_then_fills_in_order() -> None:
    assert split_hold([(1, 2), (2, 5), (3, 9)], 4) == [(2, 4)]
    assert split_hold([(1, 2), (2, 0), (3, 3)], 4) == [(1, 2), (3, 2)]
    assert split_hold([(1, 2), (2, 2)], 4) == [(1, 2), (2, 2)]
    assert split_hold([(1, 2), (2, 1)], 4) is None
    assert split_hold([], 1) is None


def test_sourcing_keeps_priority_and_narrows_to_the_keys_locations() -> None:
    assert sourcing([3, 1, 2], None, None) == [3, 1, 2]
    assert sourcing([3, 1, 2], None, frozenset({2, 3})) == [3, 2]
    assert sourcing([3, 1, 2], 1, None) == [1]
    with pytest.raises(InvalidInput) as raised:
        sourcing([3, 1, 2], 4, None)
    assert raised.value.field == ["location"]


@pytest.mark.parametrize("codes, field", [
    ([], ["locations"]),
    (["A", "A"], ["locations", "1"]),
    (["A", "bad code!"], ["locations", "1"]),
    ([f"L{i}" for i in range(101)], ["locations"]),
])
def test_channel_locations_refused(codes: list[str], field: list[str]) -> None:
    with pytest.raises(StockError) as raised:
        check_channel_locations(codes, ["locations"])
    assert raised.value.errors[0].field == field


def test_split_only_without_location() -> None:
    check_split(True, None, ["allowSplit"])
    check_split(False, "A", ["allowSplit"])
    with pytest.raises(InvalidInput):
        check_split(True, "A", ["allowSplit"])
