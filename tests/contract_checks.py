"""One concept's part of the v2 contract compared with the served schema: its own types whole,
the fields it adds to shared types, its enum values (used by tests/api/test_*_contract.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from graphql import GraphQLEnumType, GraphQLObjectType, GraphQLSchema

from tests.api.test_webhook_contract import _field, _type

# A description the served schema adds where the contract has none is an addition, not a fault.
ADDED = re.compile(r": description .*, contract None$", re.S)


def concept_faults(
    contract: GraphQLSchema, served: GraphQLSchema, *, types: Sequence[str],
    fields: Mapping[str, Sequence[str]], values: Mapping[str, Sequence[str]],
    additions_allowed: bool = False,
) -> list[str]:
    faults: list[str] = []
    for name in types:
        want = contract.get_type(name)
        assert want is not None, name
        faults += _type(want, served.get_type(name))
    for owner, names in fields.items():
        want, got = contract.get_type(owner), served.get_type(owner)
        assert isinstance(want, GraphQLObjectType) and isinstance(got, GraphQLObjectType)
        for name in names:
            if name not in got.fields:
                faults.append(f"{owner}.{name}: not served")
            else:
                faults += _field(f"{owner}.{name}", want.fields[name], got.fields[name])
    for owner, wanted in values.items():
        want, got = contract.get_type(owner), served.get_type(owner)
        assert isinstance(want, GraphQLEnumType) and isinstance(got, GraphQLEnumType)
        for value in wanted:
            if value not in got.values:
                faults.append(f"{owner}.{value}: not served")
            elif want.values[value].description != got.values[value].description:
                faults.append(f"{owner}.{value}: description {got.values[value].description!r}, "
                              f"contract {want.values[value].description!r}")
    return [f for f in faults if not ADDED.search(f)] if additions_allowed else faults
