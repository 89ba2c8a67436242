"""The served schema has every type, field and argument of the v2 contract that the webhook API
needs, with the contract's types, defaults and descriptions (issue 12's "Done when")."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    Undefined,
    ast_from_value,
    get_named_type,
    print_ast,
)
from graphql import build_schema as build_sdl

from schema.root import build_schema

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "contract"
# The team's contract beside the checkout, else the copy in tests/contract/ (a fresh clone, CI)
CONTRACT = next(p for p in (SHARED / "inventory-v2.graphql",
                            ROOT / "tests" / "contract" / "inventory-v2.graphql") if p.exists())
QUERIES = ["webhookEndpoints", "webhookEndpoint"]
MUTATIONS = ["createWebhookEndpoint", "updateWebhookEndpoint", "deleteWebhookEndpoint",
             "rotateWebhookSecret", "replayWebhookEvents", "retryDeadDeliveries"]
# Enums of the closure whose values other issues add (INVALID_STATE comes with transfers): the
# served values must be the contract's, not necessarily all of them.
GROWING_ENUMS = {"UserErrorCode"}
# Fields served beyond the contract, each named here (additions only): any other extra fails.
ADDITIONS = {"WebhookEndpoint": {"queue"}}  # the operator console's webhooks tab (issue 15)
KINDS = (GraphQLObjectType, GraphQLInputObjectType, GraphQLEnumType, GraphQLScalarType)


@pytest.fixture(scope="module")
def schemas() -> tuple[GraphQLSchema, GraphQLSchema]:
    return build_sdl(CONTRACT.read_text()), build_schema()._schema


def _closure(schema: GraphQLSchema) -> set[str]:
    """Every named type the webhook fields reach, through fields, arguments and inputs."""
    roots: list[GraphQLField] = [schema.query_type.fields[n] for n in QUERIES]  # type: ignore[union-attr]
    roots += [schema.mutation_type.fields[n] for n in MUTATIONS]  # type: ignore[union-attr]
    seen: set[str] = set()
    todo: list[GraphQLNamedType] = []
    for field in roots:
        todo.append(get_named_type(field.type))
        todo += [get_named_type(a.type) for a in field.args.values()]
    while todo:
        named = todo.pop()
        if named.name in seen:
            continue
        seen.add(named.name)
        if isinstance(named, GraphQLObjectType):
            for field in named.fields.values():
                todo.append(get_named_type(field.type))
                todo += [get_named_type(a.type) for a in field.args.values()]
        elif isinstance(named, GraphQLInputObjectType):
            todo += [get_named_type(f.type) for f in named.fields.values()]
    return seen


def _default(argument: GraphQLArgument | GraphQLInputField) -> str | None:
    """The default as introspection prints it (graphql-core keeps an SDL's as a literal)."""
    if argument.default_value is not Undefined:
        node = ast_from_value(argument.default_value, argument.type)
        return print_ast(node) if node is not None else None
    found = argument.default
    if found is None:
        return None
    if found.literal is not None:
        return print_ast(found.literal)
    node = ast_from_value(found.value, argument.type)
    return print_ast(node) if node is not None else None


def _kind(named: GraphQLNamedType) -> str:
    return next(k.__name__ for k in KINDS if isinstance(named, k))


def _argument(where: str, want: GraphQLArgument | GraphQLInputField,
              got: GraphQLArgument | GraphQLInputField) -> list[str]:
    faults = []
    if str(want.type) != str(got.type):
        faults.append(f"{where}: type {got.type}, contract {want.type}")
    if _default(want) != _default(got):
        faults.append(f"{where}: default {_default(got)}, contract {_default(want)}")
    if want.description != got.description:
        faults.append(f"{where}: description {got.description!r}, contract {want.description!r}")
    return faults


def _field(where: str, want: GraphQLField, got: GraphQLField) -> list[str]:
    faults = []
    if str(want.type) != str(got.type):
        faults.append(f"{where}: type {got.type}, contract {want.type}")
    if want.description != got.description:
        faults.append(f"{where}: description {got.description!r}, contract {want.description!r}")
    if set(want.args) != set(got.args):
        faults.append(f"{where}: arguments {sorted(got.args)}, contract {sorted(want.args)}")
    for name in set(want.args) & set(got.args):
        faults += _argument(f"{where}({name})", want.args[name], got.args[name])
    return faults


def _type(want: GraphQLNamedType, got: GraphQLNamedType | None) -> list[str]:
    if got is None:
        return [f"{want.name}: not served"]
    if _kind(want) != _kind(got):
        return [f"{want.name}: a {_kind(got)}, contract {_kind(want)}"]
    faults = []
    # a scalar's description is the library's (Strawberry's DateTime); the rest are the API's
    if want.description != got.description and not isinstance(want, GraphQLScalarType):
        faults.append(f"{want.name}: description {got.description!r}, contract "
                      f"{want.description!r}")
    if isinstance(want, GraphQLObjectType) and isinstance(got, GraphQLObjectType):
        if set(want.fields) != set(got.fields) - ADDITIONS.get(want.name, set()):
            faults.append(f"{want.name}: fields {sorted(got.fields)}, contract {sorted(want.fields)}")
        for name in set(want.fields) & set(got.fields):
            faults += _field(f"{want.name}.{name}", want.fields[name], got.fields[name])
    elif isinstance(want, GraphQLInputObjectType) and isinstance(got, GraphQLInputObjectType):
        if set(want.fields) != set(got.fields):
            faults.append(f"{want.name}: fields {sorted(got.fields)}, contract {sorted(want.fields)}")
        for name in set(want.fields) & set(got.fields):
            faults += _argument(f"{want.name}.{name}", want.fields[name], got.fields[name])
    elif isinstance(want, GraphQLEnumType) and isinstance(got, GraphQLEnumType):
        served, promised = set(got.values), set(want.values)
        if served - promised or (served != promised and want.name not in GROWING_ENUMS):
            faults.append(f"{want.name}: values {sorted(served)}, contract {sorted(promised)}")
        for name in served & promised:
            if want.values[name].description != got.values[name].description:
                faults.append(f"{want.name}.{name}: description differs")
    return faults


def test_the_webhook_api_is_served_as_the_contract_says(
    schemas: tuple[GraphQLSchema, GraphQLSchema],
) -> None:
    contract, served = schemas
    faults: list[str] = []
    for root, names in (("Query", QUERIES), ("Mutation", MUTATIONS)):
        want, got = contract.get_type(root), served.get_type(root)
        assert isinstance(want, GraphQLObjectType) and isinstance(got, GraphQLObjectType)
        for name in names:
            if name not in got.fields:
                faults.append(f"{root}.{name}: not served")
            else:
                faults += _field(f"{root}.{name}", want.fields[name], got.fields[name])
    needed = _closure(contract)
    assert {"WebhookEndpoint", "WebhookDelivery", "WebhookDeliveryStatus", "UserError",
            "CreateWebhookEndpointInput", "ReplayWebhookEventsInput", "DateTime"} <= needed
    for name in sorted(needed):
        want = contract.get_type(name)
        assert want is not None
        faults += _type(want, served.get_type(name))
    assert faults == []


def test_the_comparison_notices_a_difference(
    schemas: tuple[GraphQLSchema, GraphQLSchema],
) -> None:
    """The checks above can fail: a changed default, a missing field, an extra value."""
    contract, _ = schemas
    changed = build_sdl(CONTRACT.read_text()
                        .replace("first: Int = 50): [WebhookDelivery!]!",
                                 "first: Int = 40): [WebhookDelivery!]!")
                        .replace("  attempts: Int!\n", "")
                        .replace("  DEAD\n}", "  DEAD\n  LOST\n}"))
    faults = [f for name in ("WebhookEndpoint", "WebhookDelivery", "WebhookDeliveryStatus")
              for f in _type(contract.get_type(name), changed.get_type(name))]  # type: ignore[arg-type]
    assert "WebhookEndpoint.deliveries(first): default 40, contract 50" in faults, faults
    assert any(f.startswith("WebhookDelivery: fields") for f in faults), faults
    assert any(f.startswith("WebhookDeliveryStatus: values") for f in faults), faults


@pytest.mark.parametrize("name", ["inventory.graphql", "inventory-v2.graphql"])
def test_the_copied_contract_is_the_teams(name: str) -> None:
    if not (SHARED / name).exists():
        pytest.skip(f"no {SHARED / name} to compare with (a checkout without ../shared)")
    assert (ROOT / "tests" / "contract" / name).read_text() == (SHARED / name).read_text()
