"""The replica's lag from WAL positions (domain/replica_lag.py) and which queries ask for the
primary (resolvers/routing.py), without a database."""

from __future__ import annotations

import pytest
from graphql import parse

from domain.replica_lag import Lag, LagClock
from resolvers.routing import asks_primary


def test_an_idle_caught_up_replica_has_no_lag_however_long_the_primary_idles() -> None:
    clock = LagClock()
    for second in range(100):
        assert clock.measure(second, 500, 500, second + 0.01) == Lag(0.0, True)


def test_lag_is_the_age_of_the_newest_sample_the_replica_has_passed() -> None:
    clock = LagClock()
    assert clock.measure(0.0, 100, 100, 0.0) == Lag(0.0, True)
    assert clock.measure(1.0, 200, 100, 1.0) == Lag(1.0, True)  # has 0.0's, not 1.0's
    assert clock.measure(2.0, 300, 150, 2.5) == Lag(2.5, True)
    assert clock.measure(3.0, 300, 200, 3.0) == Lag(2.0, True)  # passed 1.0's position
    assert clock.measure(4.0, 300, 300, 4.0) == Lag(0.0, True)


def test_a_replica_behind_every_sample_is_not_known_to_be_caught_up() -> None:
    clock = LagClock()
    assert clock.measure(10.0, 100, 50, 10.0) == Lag(0.0, False)
    assert clock.measure(11.0, 120, 90, 11.2) == Lag(pytest.approx(1.2), False)
    assert clock.measure(12.0, 120, 110, 12.0) == Lag(2.0, True)  # passed 10.0's
    clock.forget()
    assert clock.measure(20.0, 130, 110, 20.0).known is False


def test_a_server_not_in_recovery_serves_its_own_truth() -> None:
    assert LagClock().measure(0.0, 100, None, 5.0) == Lag(0.0, True)


@pytest.mark.parametrize(("document", "variables", "primary"), [
    ('{ sku(code: "A") { code } }', {}, False),
    ('{ sku(code: "A", consistent: false) { code } }', {}, False),
    ('{ sku(code: "A", consistent: true) { code } }', {}, True),
    ('{ reservation(id: "r", consistent: true) { id } }', {}, True),
    ('{ skus { edges { node { code } } } x: sku(code: "A", consistent: true) { code } }', {}, True),
    ("query($p: Boolean) { sku(code: \"A\", consistent: $p) { code } }", {"p": True}, True),
    ("query($p: Boolean) { sku(code: \"A\", consistent: $p) { code } }", {"p": None}, False),
    ("query($p: Boolean = true) { sku(code: \"A\", consistent: $p) { code } }", {}, True),
    ("query($p: Boolean = true) { sku(code: \"A\", consistent: $p) { code } }", {"p": False}, False),
    ('query { ...F } fragment F on Query { sku(code: "A", consistent: true) { code } }', {}, True),
    ('query { ... on Query { sku(code: "A", consistent: true) { code } } }', {}, True),
    # only the root fields that take the hint count
    ('{ skus(first: 1) { edges { node { code } } } }', {}, False),
])
def test_which_queries_ask_for_the_primary(
    document: str, variables: dict[str, object], primary: bool
) -> None:
    assert asks_primary(parse(document), None, variables) is primary


def test_the_named_operation_is_the_one_judged() -> None:
    document = parse('query A { sku(code: "A", consistent: true) { code } } '
                     'query B { sku(code: "A") { code } }')
    assert asks_primary(document, "A", {}) is True
    assert asks_primary(document, "B", {}) is False
