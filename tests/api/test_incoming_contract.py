"""The served schema has every type, field and argument of the v2 contract that incoming stock
and available-to-promise need, with the contract's types, defaults and descriptions."""

from __future__ import annotations

from graphql import GraphQLSchema, build_schema

from tests.api.test_webhook_contract import CONTRACT, schemas  # noqa: F401
from tests.contract_checks import concept_faults

# Types incoming stock brings: served exactly as the contract has them.
TYPES = ["Incoming", "IncomingStatus", "IncomingSource", "IncomingPayload", "ExpectIncomingInput",
         "ReceiveIncomingInput", "CancelIncomingInput"]
# Fields it adds to types other concepts grow too: each served as the contract has it.
FIELDS = {
    "Query": ["incoming"],
    "Mutation": ["expectIncoming", "receiveIncoming", "cancelIncoming"],
    "StockLevel": ["incoming"],
    "Sku": ["incoming", "nextRestockAt", "availableToPromise"],
    "StockEvent": ["incomingDelta", "incomingId", "transferId"],
}
VALUES = {"StockEventKind": ["INCOMING", "RECEIVED"], "UserErrorCode": ["INVALID_STATE"]}


def _faults(contract: GraphQLSchema, served: GraphQLSchema) -> list[str]:
    return concept_faults(contract, served, types=TYPES, fields=FIELDS, values=VALUES)


def test_incoming_stock_is_served_as_the_contract_says(
    schemas: tuple[GraphQLSchema, GraphQLSchema],  # noqa: F811
) -> None:
    contract, served = schemas
    assert _faults(contract, served) == []


def test_the_comparison_notices_a_difference(
    schemas: tuple[GraphQLSchema, GraphQLSchema],  # noqa: F811
) -> None:
    contract, served = schemas
    changed = build_schema(CONTRACT.read_text()
                           .replace("availableToPromise(at: DateTime!, channel: String): Int!",
                                    "availableToPromise(at: DateTime, channel: String): Int!")
                           .replace("  CANCELLED\n}\n\nenum IncomingSource", "  CANCELLED\n  LATE\n}\n\nenum IncomingSource"))
    faults = _faults(changed, served)
    assert any(f.startswith("Sku.availableToPromise(at): type") for f in faults), faults
    assert any(f.startswith("IncomingStatus: values") for f in faults), faults
