"""The served schema has every type, field, argument and input of the v2 contract that transfers
need, with the contract's types, defaults and descriptions. A description the served schema
adds where the contract has none (the rule for lines of one SKU, the default expectedAt) is
an addition, which the contract allows; any other difference is a fault."""

from __future__ import annotations

from graphql import GraphQLSchema, build_schema

from tests.api.test_webhook_contract import CONTRACT, schemas
from tests.contract_checks import concept_faults

__all__ = ["schemas"]  # the fixture, shared with the webhook contract's test

TYPES = ["Transfer", "TransferLine", "TransferStatus", "TransferPayload", "TransferLineInput",
         "ShipTransferInput", "ReceiveTransferInput", "CancelTransferInput"]
# Fields transfers add to types other concepts grow too: each served as the contract has it.
FIELDS = {
    "Query": ["transfer", "transfers"],
    "Mutation": ["shipTransfer", "receiveTransfer", "cancelTransfer"],
    "StockEvent": ["transferId"],
    "Incoming": ["source", "transferId"],
}
VALUES = {"StockEventKind": ["SHIPPED"], "IncomingSource": ["TRANSFER"],
          "AdjustmentReason": ["TRANSFER"], "UserErrorCode": ["INVALID_STATE"]}


def _faults(contract: GraphQLSchema, served: GraphQLSchema) -> list[str]:
    return concept_faults(contract, served, types=TYPES, fields=FIELDS, values=VALUES, additions_allowed=True)


def test_transfers_are_served_as_the_contract_says(
    schemas: tuple[GraphQLSchema, GraphQLSchema],
) -> None:
    contract, served = schemas
    assert _faults(contract, served) == []


def test_the_comparison_notices_a_difference(
    schemas: tuple[GraphQLSchema, GraphQLSchema],
) -> None:
    _, served = schemas
    text = CONTRACT.read_text()
    changed = build_schema(
        text.replace("transfers(status: TransferStatus, location: String, first: Int = 100)",
                     "transfers(status: TransferStatus, location: String, first: Int = 50)")
        .replace("  IN_TRANSIT\n  RECEIVED\n  CANCELLED\n}", "  IN_TRANSIT\n  RECEIVED\n  CANCELLED\n  LOST\n}")
        .replace('  "Shipped."\n  quantity: Int!', '  "Sent."\n  quantity: Int!')
        .replace("  from: String!\n  to: String!\n  lines: [TransferLineInput!]!",
                 "  from: String!\n  to: String\n  lines: [TransferLineInput!]!")
        .replace("A transfer left this location:", "A transfer left its location:"))
    faults = _faults(changed, served)
    assert "Query.transfers(first): default 100, contract 50" in faults, faults
    assert any(f.startswith("TransferStatus: values") for f in faults), faults
    assert any(f.startswith("TransferLine.quantity: description") for f in faults), faults
    assert any(f.startswith("ShipTransferInput.to: type String!") for f in faults), faults
    assert any(f.startswith("StockEventKind.SHIPPED: description") for f in faults), faults
    # where the contract has no description, an added one is not a fault
    assert served.get_type("TransferLineInput").description  # type: ignore[union-attr]
    assert not any(f.startswith("TransferLineInput") for f in faults), faults
