"""resolvers.cost: what a document costs, from the schema, its literals and its variables."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import parse

from compat.strawberry import core_schema
from resolvers.cost import cost
from schema.root import build_schema

SCHEMA = core_schema(build_schema())
LEVELS = "levels { onHand }"


def of(text: str, variables: dict[str, Any] | None = None) -> int:
    return cost(SCHEMA, parse(text), None, variables, levels_per_sku=10).requested


@pytest.mark.parametrize("text, expected", [
    ("{ __typename }", 0),
    ('{ sku(code: "a") { code } }', 1),
    (f'{{ sku(code: "a") {{ {LEVELS} }} }}', 11),
    ('{ sku(code: "a") { levels(location: "WH-A") { onHand } } }', 2),
    ('{ sku(code: "a") { levels(location: null) { onHand } } }', 11),
    (f"{{ skus(first: 500) {{ edges {{ node {{ code {LEVELS} }} }} pageInfo {{ hasNextPage }} }} }}",
     1 + 500 * (1 + 1 + 10) + 1),
    ("{ skus { edges { node { code } } } }", 1 + 50 * 2),  # the field's default page
    ("{ skus(first: 100000) { edges { cursor } } }", 1 + 500),  # clamped: the resolver refuses
    ('{ stockEvents(sku: "a") { level { onHand } } }', 100 * 2),
    ('{ skusByCode(codes: ["a", "b", "c"]) { code } }', 3),
    ("{ locations { code } }", 10),
    ("{ channels { code } }", 10),
    ("{ channels { locations { code } } }", 10 * (1 + 10)),
    ('{ channel(code: "web") { locations { code } } }', 1 + 10),
    ("{ incoming { id location { code } } }", 100 * 2),  # the field's default page
    ("{ incoming(first: 3) { id } }", 3),
    ("{ incoming(first: 9999) { id } }", 500),  # clamped: the resolver refuses
    ("{ transfers { id from { code } to { code } } }", 100 * 3),  # the field's default page
    ("{ transfers(first: 2) { lines { sku } } }", 2 * (1 + 10)),  # lines counted as 10 each
    ("{ transfers(first: 9999) { id } }", 500),  # clamped: the resolver refuses
    ('{ transfer(id: "x") { lines { sku quantity } } }', 1 + 10),
    ('mutation { shipTransfer(input: {from: "a", to: "b", lines: []}) { transfer { id } '
     "userErrors { code } } }", 3),
    (f'fragment F on Sku {{ {LEVELS} }} {{ a: sku(code: "a") {{ ...F }} b: sku(code: "b") {{ ...F }} }}',
     22),
    ('mutation { reserve(input: {sku: "a", quantity: 1}) { reservation { id } userErrors { code } } }',
     3),
])
def test_literal_costs(text: str, expected: int) -> None:
    assert of(text) == expected


def test_variables_are_counted_and_flagged() -> None:
    text = "query($n: Int = 7, $c: [String!]!) { skus(first: $n) { edges { cursor } } " \
           "skusByCode(codes: $c) { code } }"
    found = cost(SCHEMA, parse(text), None, {"n": 300, "c": ["a"] * 20}, levels_per_sku=10)
    assert found.requested == 1 + 300 + 20 and found.variable
    assert of(text, {"c": []}) == 1 + 7  # the variable's default
    assert of(text, {"n": "junk", "c": "junk"}) == 1 + 50 + 1  # coercion refuses it later
    located = 'query($l: String) { sku(code: "a") { levels(location: $l) { onHand } } }'
    assert of(located, {"l": "WH-A"}) == 2 and of(located, {}) == 11


def test_the_named_operation_is_the_one_counted() -> None:
    text = "query Small { __typename } query Big { skus(first: 500) { edges { cursor } } }"
    assert cost(SCHEMA, parse(text), "Small", None, levels_per_sku=10).requested == 0
    assert cost(SCHEMA, parse(text), "Big", None, levels_per_sku=10).requested == 501
