"""The served schema has every type, field and argument of the v2 contract that bulk adjust
and set need (issue 14 item 1), with the contract's types, defaults and descriptions."""

from __future__ import annotations

from graphql import GraphQLSchema, build_schema

from tests.api.test_webhook_contract import CONTRACT, schemas
from tests.contract_checks import concept_faults

__all__ = ["schemas"]  # the fixture, shared with the webhook contract's test

# The line inputs and payloads are v1's, served with more documentation than the contract has.
TYPES = ["BulkAdjustStockInput", "BulkSetStockInput", "BulkAdjustStockPayload",
         "BulkSetStockPayload"]
FIELDS = {"Mutation": ["bulkAdjustStock", "bulkSetStock"]}


def _faults(contract: GraphQLSchema, served: GraphQLSchema) -> list[str]:
    return concept_faults(contract, served, types=TYPES, fields=FIELDS, values={})


def test_bulk_stock_is_served_as_the_contract_says(
    schemas: tuple[GraphQLSchema, GraphQLSchema],
) -> None:
    contract, served = schemas
    assert _faults(contract, served) == []


def test_the_comparison_notices_a_difference(
    schemas: tuple[GraphQLSchema, GraphQLSchema],
) -> None:
    _, served = schemas
    changed = build_schema(
        CONTRACT.read_text()
        .replace("  lines: [AdjustStockInput!]!\n  atomic: Boolean = false",
                 "  lines: [AdjustStockInput!]!\n  atomic: Boolean = true")
        .replace("bulkSetStock(input: BulkSetStockInput!): BulkSetStockPayload!",
                 "bulkSetStock(input: BulkSetStockInput!): BulkAdjustStockPayload!")
    )
    faults = _faults(changed, served)
    assert any(f.startswith("BulkAdjustStockInput.atomic") for f in faults), faults
    assert any(f.startswith("Mutation.bulkSetStock: type") for f in faults), faults
