"""The served schema has every type, field and argument of the v2 contract that recordSales
needs (issue 14 item 2), with the contract's types, defaults and descriptions."""

from __future__ import annotations

from graphql import GraphQLSchema, build_schema

from tests.api.test_webhook_contract import CONTRACT, schemas
from tests.contract_checks import concept_faults

__all__ = ["schemas"]  # the fixture, shared with the webhook contract's test

TYPES = ["SaleInput", "RecordSalesInput", "SaleResult", "RecordSalesPayload"]
FIELDS = {"Mutation": ["recordSales"], "StockEvent": ["happenedAt"]}
VALUES = {"StockEventKind": ["MOVED", "SHORTED"], "ReservationStatus": ["SHORTED"]}


def _faults(contract: GraphQLSchema, served: GraphQLSchema) -> list[str]:
    return concept_faults(contract, served, types=TYPES, fields=FIELDS, values=VALUES)


def test_record_sales_is_served_as_the_contract_says(
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
        .replace("  shortfall: Int!", "  shortfall: Int")
        .replace("  idempotencyKey: String!\n}\n\n\"\"\"\nSales",
                 "  idempotencyKey: String\n}\n\n\"\"\"\nSales")
        .replace("recordSales(input: RecordSalesInput!): RecordSalesPayload!",
                 "recordSales(input: RecordSalesInput!): SetStockPayload!")
    )
    faults = _faults(changed, served)
    assert any(f.startswith("SaleResult") for f in faults), faults
    assert any(f.startswith("SaleInput") for f in faults), faults
    assert any(f.startswith("Mutation.recordSales: type") for f in faults), faults
