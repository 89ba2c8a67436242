"""The served schema has every type, field and argument of the v2 contract that bundles need
(issue 13 item 2), with the contract's types, defaults and descriptions."""

from __future__ import annotations

from graphql import GraphQLSchema, build_schema

from tests.api.test_webhook_contract import CONTRACT, schemas
from tests.contract_checks import concept_faults

__all__ = ["schemas"]  # the fixture, shared with the webhook contract's test

TYPES = ["BundleComponent", "ReservationComponent", "BundleComponentInput", "UpsertBundleInput"]
# Fields bundles add to types other concepts grow too (Sku's figures serve bundles as well:
# available/status/availableToPromise are compared by the channel and incoming tests).
FIELDS = {
    "Mutation": ["upsertBundle"],
    "Sku": ["isBundle", "components", "available", "status", "availableToPromise"],
    "Reservation": ["components"],
    "ReservePayload": ["reservations"],
}


def _faults(contract: GraphQLSchema, served: GraphQLSchema) -> list[str]:
    return concept_faults(contract, served, types=TYPES, fields=FIELDS, values={})


def test_bundles_are_served_as_the_contract_says(
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
        .replace("  isBundle: Boolean!", "  isBundle: Boolean")
        .replace("upsertBundle(input: UpsertBundleInput!): UpsertSkuPayload!",
                 "upsertBundle(input: UpsertBundleInput!): UpsertChannelPayload!")
        .replace("type ReservationComponent {\n  sku: String!\n  quantity: Int!",
                 "type ReservationComponent {\n  sku: String!\n  quantity: Int!\n  location: String")
    )
    faults = _faults(changed, served)
    assert any(f.startswith("Sku.isBundle: type") for f in faults), faults
    assert any(f.startswith("Mutation.upsertBundle: type") for f in faults), faults
    assert any(f.startswith("ReservationComponent") for f in faults), faults
