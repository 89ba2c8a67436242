"""The pure domain: no fixtures, no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from domain.errors import InvalidInput, InvalidQuantity, Rejected
from domain.model import (
    AdjustmentReason,
    AvailabilityStatus,
    availability_status,
    available_quantity,
)
from domain.rules import (
    Limits,
    check_adjustment,
    check_all,
    check_code,
    check_quantity,
    check_reservation_id,
    check_text,
    hold_seconds,
    is_reservation_id,
    merge_lines,
    text_fault,
)
from settings import Settings

LIMITS = Limits(max_quantity=100, default_ttl_seconds=900, max_ttl_seconds=3600)


def test_available_is_clamped_and_status_follows_threshold() -> None:
    assert available_quantity(10, 4, 2) == 4
    assert available_quantity(3, 3, 5) == 0
    assert availability_status(0, 5) is AvailabilityStatus.OUT_OF_STOCK
    assert availability_status(5, 5) is AvailabilityStatus.LOW_STOCK
    assert availability_status(6, 5) is AvailabilityStatus.IN_STOCK
    assert availability_status(1, 0) is AvailabilityStatus.IN_STOCK


@pytest.mark.parametrize("quantity", [0, -1, 101, 2**31, 2**63])
def test_quantities_out_of_bounds(quantity: int) -> None:
    with pytest.raises(InvalidQuantity) as error:
        check_quantity(quantity, ["quantity"], LIMITS)
    assert error.value.field == ["quantity"]


@pytest.mark.parametrize("code", ["", "-lead", "has space", "a" * 65, "x'; DROP TABLE skus; --", "ü"])
def test_bad_codes(code: str) -> None:
    with pytest.raises(InvalidInput):
        check_code(code, ["sku"])


def test_hold_time_defaults_and_caps() -> None:
    assert hold_seconds(None, ["ttlSeconds"], LIMITS) == 900
    assert hold_seconds(10, ["ttlSeconds"], LIMITS) == 10
    assert hold_seconds(10**6, ["ttlSeconds"], LIMITS) == 3600
    with pytest.raises(InvalidInput):
        hold_seconds(0, ["ttlSeconds"], LIMITS)


def test_adjustment_sign_must_match_reason() -> None:
    assert check_adjustment(-3, AdjustmentReason.CORRECTION, ["delta"], LIMITS) == -3
    for delta, reason in [(0, AdjustmentReason.TRANSFER), (-1, AdjustmentReason.RESTOCK),
                          (2, AdjustmentReason.DAMAGE), (101, AdjustmentReason.RETURN)]:
        with pytest.raises(InvalidQuantity):
            check_adjustment(delta, reason, ["delta"], LIMITS)


def test_cart_lines_of_one_sku_and_location_are_summed_in_input_order() -> None:
    lines = merge_lines([("B", None, 1), ("A", "L1", 2), ("B", None, 3), ("A", "L2", 1)], LIMITS)
    assert [(ln.sku, ln.location, ln.quantity, ln.index) for ln in lines] == [
        ("B", None, 4, 0), ("A", "L1", 2, 1), ("A", "L2", 1, 3)]
    with pytest.raises(InvalidQuantity) as error:
        merge_lines([("A", None, 60), ("A", None, 60)], LIMITS)
    assert error.value.field == ["lines", "0", "quantity"]


def test_check_all_reports_every_failure() -> None:
    with pytest.raises(Rejected) as error:
        check_all(lambda: check_code("", ["sku"]), lambda: check_quantity(0, ["quantity"], LIMITS))
    assert [(e.code, e.field) for e in error.value.errors] == [
        ("INVALID_INPUT", ["sku"]), ("INVALID_QUANTITY", ["quantity"])]
    assert [e.field for e in error.value.at("input").errors] == [["input", "sku"], ["input", "quantity"]]


def test_domain_imports_only_the_standard_library() -> None:
    allowed_prefixes = ("domain", "__future__")
    import sys

    for path in (Path(__file__).resolve().parents[2] / "domain").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert top.startswith(allowed_prefixes) or top in sys.stdlib_module_names, (path, name)


@pytest.mark.parametrize(("value", "fault"), [
    ("plain text, ünïcode and emoji 🎉", None),
    ("a\x00b", "NUL"), ("a\ud800b", "surrogate"), ("\udfff", "surrogate"),
    ("x" * 201, "at most 200"),
])
def test_one_text_rule_for_every_string(value: str, fault: str | None) -> None:
    found = text_fault(value)
    assert (found is None) if fault is None else (found is not None and fault in found)
    if fault is not None:
        with pytest.raises(InvalidInput):
            check_text(value, ["reference"])


@pytest.mark.parametrize(("value", "canonical"), [
    ("0b6f8f4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", True),
    ("0B6F8F4E-1C2D-4E5F-8A9B-0C1D2E3F4A5B", True),
    ("{0b6f8f4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b}", False),
    ("urn:uuid:0b6f8f4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", False),
    ("0b6f8f4e1c2d4e5f8a9b0c1d2e3f4a5b", False),
    ("0b6f8f4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b\n", False),
    ("0b6f8f4e-1c2d-4e5f-8a9b-0c1d2e3f4a5\x00", False),
])
def test_reservation_ids_only_in_canonical_form(value: str, canonical: bool) -> None:
    assert is_reservation_id(value) is canonical
    if not canonical:
        with pytest.raises(InvalidInput):
            check_reservation_id(value, ["reservationId"])


def test_a_cart_holds_at_most_max_cart_lines() -> None:
    limits = Limits(max_cart_lines=3)
    assert len(merge_lines([("A", None, 1)] * 3, limits)) == 1
    with pytest.raises(InvalidInput) as refused:
        merge_lines([("A", None, 1)] * 4, limits)
    assert refused.value.field == ["lines"]


def test_settings_refuse_figures_graphql_cannot_carry() -> None:
    assert Settings.from_env({"MAX_CART_LINES": "7"}).limits.max_cart_lines == 7
    assert Settings.from_env({}).limits.max_cart_lines == 200
    for env in ({"MAX_QUANTITY": str(2**31)}, {"MAX_QUANTITY": "0"}, {"MAX_CART_LINES": "0"}):
        with pytest.raises(ValueError):
            Settings.from_env(env)
