"""schema/compiled_holds.py builds each hold field's input as Strawberry's convert_argument
does, and installs a direct resolver on every hold field whose input is plain scalars."""

from __future__ import annotations

from typing import Any

import pytest
from strawberry.types.arguments import convert_argument

from compat.strawberry import core_schema, has_exception_handlers
from schema.compiled_holds import BACKREF, HOLD_FIELDS, _input_builder
from schema.inputs import CommitReservationInput, ReleaseReservationInput, ReserveInput
from schema.root import build_schema

SCHEMA = build_schema(holds=True)
CASES: list[tuple[Any, dict[str, Any]]] = [
    (ReserveInput, {"sku": "A", "quantity": 1}),
    (ReserveInput, {"sku": "A", "quantity": 2, "location": None, "channel": None}),
    (ReserveInput, {"sku": "A", "quantity": 2, "location": "WH", "ttlSeconds": 60,
                    "idempotencyKey": "k", "reference": "r", "channel": "web",
                    "allowSplit": True}),
    (ReserveInput, {"sku": "A", "quantity": 2, "allowSplit": None}),
    (CommitReservationInput, {"reservationId": "x", "idempotencyKey": None}),
    (ReleaseReservationInput, {"reservationId": "x"}),
]


@pytest.mark.parametrize(("input_type", "value"), CASES)
def test_the_input_is_strawberrys_own(input_type: Any, value: dict[str, Any]) -> None:
    build = _input_builder(input_type, SCHEMA.config)
    assert build is not None
    expected = convert_argument(value, input_type, SCHEMA.schema_converter.scalar_registry,
                                SCHEMA.config)
    assert build(value) == expected
    assert type(build(value)) is type(expected)


def test_every_hold_field_with_a_plain_input_gets_a_direct_resolver() -> None:
    """reserveLines' input holds a list of inputs: Strawberry's conversion stays."""
    assert not has_exception_handlers(SCHEMA)
    direct = core_schema(SCHEMA).mutation_type
    assert direct is not None
    made = {name for name in HOLD_FIELDS
            if direct.fields[name].resolve.__qualname__.startswith("_direct")}
    assert made == set(HOLD_FIELDS) - {"reserveLines"}
    assert all(direct.fields[name].extensions[BACKREF] is not None for name in HOLD_FIELDS)
