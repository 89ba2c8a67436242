"""domain/ingest.py: a CloudEvent decoded into a stock line or a sale, or refused with a stable
code and a reason; the dead letter's body; the idempotency key's form."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.errors import NotFound, Rejected, VersionConflict
from domain.ingest import (
    MALFORMED,
    UNKNOWN_TYPE,
    Ingested,
    Kind,
    Unusable,
    dead_letter,
    decode,
    idempotency_key,
    refusal,
)
from domain.model import AdjustmentReason


def event(kind: str = "inventory.adjust", **data: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": "42", "source": "urn:pos:store-7", "type": kind,
            "datacontenttype": "application/json", "data": data}


def body(document: object) -> bytes:
    return json.dumps(document).encode()


def test_an_adjust_decodes_into_a_line_keyed_by_source_and_id() -> None:
    found = decode(body(event(sku="A-1", location="S7", delta=-2, reason="SALE",
                              reference="till 3")))
    assert isinstance(found, Ingested)
    assert found.kind is Kind.ADJUST and found.location == "S7"
    assert found.key == "urn:pos:store-7 42" == idempotency_key("urn:pos:store-7", "42")
    assert found.line is not None and found.sale is None
    assert (found.line.sku, found.line.delta, found.line.reason, found.line.reference,
            found.line.idempotency_key) == ("A-1", -2, AdjustmentReason.SALE, "till 3",
                                            found.key)
    assert not found.line.is_set


def test_a_set_decodes_with_its_optional_figures() -> None:
    found = decode(body(event("inventory.set", sku="A-1", location="S7", onHand=9,
                              safetyStock=1, expectedVersion=3)))
    assert isinstance(found, Ingested) and found.line is not None
    assert (found.line.on_hand, found.line.safety_stock, found.line.expected_version) == (9, 1, 3)
    bare = decode(body(event("inventory.set", sku="A-1", location="S7", onHand=0)))
    assert isinstance(bare, Ingested) and bare.line is not None and bare.line.is_set
    assert (bare.line.safety_stock, bare.line.expected_version) == (None, None)


def test_a_sale_keeps_when_it_happened_with_its_offset() -> None:
    found = decode(body(event("inventory.sale", sku="A-1", location="S7", quantity=2,
                              happenedAt="2026-12-07T10:15:00+02:00", reference="r")))
    assert isinstance(found, Ingested) and found.sale is not None and found.location == "S7"
    assert found.sale.happened_at == datetime(2026, 12, 7, 8, 15, tzinfo=UTC)
    assert found.sale.happened_at.utcoffset() == timedelta(hours=2)
    assert found.sale.idempotency_key == found.key
    zulu = decode(body(event("inventory.sale", sku="A-1", location="S7", quantity=1,
                             happenedAt="2026-12-07T10:15:00Z")))
    assert isinstance(zulu, Ingested) and zulu.sale is not None
    assert zulu.sale.happened_at.tzinfo == UTC


@pytest.mark.parametrize(("raw", "says"), [
    (b"\xff\xfe", "not UTF-8 JSON"),
    (b"{not json", "not UTF-8 JSON"),
    (b"[1, 2]", "not a JSON object"),
    (body({**event(sku="A", location="S", delta=1, reason="RESTOCK"), "specversion": "0.3"}),
     "specversion"),
    (body({k: v for k, v in event(sku="A", location="S", delta=1, reason="RESTOCK").items()
           if k != "id"}), "id must be a non-empty string"),
    (body({**event(sku="A", location="S", delta=1, reason="RESTOCK"), "source": "a b"}),
     "no spaces"),
    (body({**event(sku="A", location="S", delta=1, reason="RESTOCK"),
           "datacontenttype": "text/plain"}), "datacontenttype"),
    (body({**event(), "data": "sku=A"}), "data must be a JSON object"),
    (body(event(sku="A", location="S", delta="1", reason="RESTOCK")), "data.delta must be an"),
    (body(event(sku="A", location="S", delta=True, reason="RESTOCK")), "data.delta must be an"),
    (body(event(sku="A", location="S", delta=1, reason="STOLEN")), "data.reason must be one"),
    (body(event(location="S", delta=1, reason="RESTOCK")), "data.sku must be a non-empty"),
    (body(event("inventory.set", sku="A", location="S", onHand=1.5)), "data.onHand"),
    (body(event("inventory.set", sku="A", location="S", onHand=1, expectedVersion="3")),
     "data.expectedVersion"),
    (body(event("inventory.sale", sku="A", location="S", quantity=1, happenedAt="yesterday")),
     "RFC 3339"),
    (body(event("inventory.sale", sku="A", location="S", quantity=1, happenedAt="2026-12-07",
                reference=5)), "data.reference must be a string"),
])
def test_malformed_messages_are_refused_with_a_reason(raw: bytes, says: str) -> None:
    found = decode(raw)
    assert isinstance(found, Unusable)
    assert found.code == MALFORMED
    assert says in found.reason


def test_a_known_type_with_bad_data_keeps_its_type_for_the_metrics() -> None:
    found = decode(body(event("inventory.set", sku="A", location="S")))
    assert isinstance(found, Unusable) and found.kind is Kind.SET
    assert found.label == "inventory.set"
    assert decode(b"nope").label == "other"  # type: ignore[union-attr]


def test_an_unknown_type_is_its_own_code() -> None:
    found = decode(body(event("inventory.transfer", sku="A")))
    assert isinstance(found, Unusable)
    assert (found.code, found.kind) == (UNKNOWN_TYPE, None)
    assert "inventory.transfer" in found.reason and "inventory.sale" in found.reason


def test_a_mutation_refusal_names_each_field() -> None:
    assert refusal(NotFound("unknown SKU 'X'", ["sku"])) == Unusable(
        "NOT_FOUND", "sku: unknown SKU 'X'")
    both = refusal(Rejected([VersionConflict("at 3, not 2", ["expected_version"]),
                             NotFound("gone")]))
    assert both.code == "VERSION_CONFLICT"
    assert both.reason == "expected_version: at 3, not 2; gone"


def test_a_dead_letter_carries_the_message_as_text_or_base64() -> None:
    why = Unusable(MALFORMED, "not UTF-8 JSON")
    assert dead_letter(why, "stores.s1.stock", 7, b'{"a": 1}') == {
        "code": MALFORMED, "reason": "not UTF-8 JSON", "subject": "stores.s1.stock",
        "streamSequence": 7, "message": '{"a": 1}'}
    binary = dead_letter(why, "stores.s1.stock", 8, b"\xff\x00")
    assert binary["message"] == "/wA=" and binary["messageBase64"] is True
