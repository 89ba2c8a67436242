"""The served schema has every type, field and argument of the v2 contract that sales channels
need (issue 13 item 1), with the contract's types, defaults and descriptions."""

from __future__ import annotations

from graphql import GraphQLInputObjectType, GraphQLObjectType, GraphQLSchema

from tests.api.test_webhook_contract import _argument, _field, _type, schemas

__all__ = ["schemas"]  # the fixture, shared with the webhook contract's test

TYPES = ["Channel", "UpsertChannelInput", "UpsertChannelPayload"]
# (type, field) of types other concepts extend too: only channels' fields are compared here
FIELDS = [("Query", "channel"), ("Query", "channels"), ("Mutation", "upsertChannel"),
          ("Sku", "available"), ("Sku", "status"), ("Reservation", "channel"),
          ("ReservePayload", "reservations")]
INPUT_FIELDS = [("ReserveInput", "channel"), ("ReserveInput", "allowSplit"), ("ReserveLinesInput", "channel")]


def test_channels_are_served_as_the_contract_says(
    schemas: tuple[GraphQLSchema, GraphQLSchema],
) -> None:
    contract, served = schemas
    faults: list[str] = []
    for name in TYPES:
        want = contract.get_type(name)
        assert want is not None
        faults += _type(want, served.get_type(name))
    for type_name, name in FIELDS:
        want, got = contract.get_type(type_name), served.get_type(type_name)
        assert isinstance(want, GraphQLObjectType) and isinstance(got, GraphQLObjectType)
        if name not in got.fields:
            faults.append(f"{type_name}.{name}: not served")
        else:
            faults += _field(f"{type_name}.{name}", want.fields[name], got.fields[name])
    for type_name, name in INPUT_FIELDS:
        want_input, got_input = contract.get_type(type_name), served.get_type(type_name)
        assert isinstance(want_input, GraphQLInputObjectType)
        assert isinstance(got_input, GraphQLInputObjectType)
        if name not in got_input.fields:
            faults.append(f"{type_name}.{name}: not served")
        else:
            faults += _argument(f"{type_name}.{name}", want_input.fields[name],
                                got_input.fields[name])
    want_field = contract.subscription_type.fields["availability"]  # type: ignore[union-attr]
    got_field = served.subscription_type.fields["availability"]  # type: ignore[union-attr]
    assert set(want_field.args) == set(got_field.args)
    faults += _argument("Subscription.availability(channel)", want_field.args["channel"],
                        got_field.args["channel"])
    assert faults == []
