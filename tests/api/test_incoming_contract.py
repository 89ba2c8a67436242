"""The served schema has every type, field and argument of the v2 contract that incoming stock
and available-to-promise need, with the contract's types, defaults and descriptions."""

from __future__ import annotations

from graphql import GraphQLEnumType, GraphQLObjectType, GraphQLSchema, build_schema

from tests.api.test_webhook_contract import CONTRACT, _field, _type, schemas  # noqa: F401

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
    faults: list[str] = []
    for name in TYPES:
        want = contract.get_type(name)
        assert want is not None, name
        faults += _type(want, served.get_type(name))
    for owner, names in FIELDS.items():
        want, got = contract.get_type(owner), served.get_type(owner)
        assert isinstance(want, GraphQLObjectType) and isinstance(got, GraphQLObjectType)
        for name in names:
            if name not in got.fields:
                faults.append(f"{owner}.{name}: not served")
            else:
                faults += _field(f"{owner}.{name}", want.fields[name], got.fields[name])
    for owner, values in VALUES.items():
        want, got = contract.get_type(owner), served.get_type(owner)
        assert isinstance(want, GraphQLEnumType) and isinstance(got, GraphQLEnumType)
        for value in values:
            if value not in got.values:
                faults.append(f"{owner}.{value}: not served")
            elif want.values[value].description != got.values[value].description:
                faults.append(f"{owner}.{value}: description {got.values[value].description!r}, "
                              f"contract {want.values[value].description!r}")
    return faults


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
