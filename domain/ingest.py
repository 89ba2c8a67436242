"""What an ingested NATS message asks for: a CloudEvent 1.0 (structured JSON) decoded into a stock
line or a sale, or the reason it cannot be (called by service.ingesting; unit-tested alone)."""

from __future__ import annotations

import base64
import enum
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.bulk import StockLine
from domain.errors import StockError
from domain.model import AdjustmentReason
from domain.sales import Sale


class Kind(enum.Enum):
    ADJUST = "inventory.adjust"
    SET = "inventory.set"
    SALE = "inventory.sale"


# dead-letter codes of their own; the others are the API's userErrors codes (NOT_FOUND, ...)
MALFORMED = "MALFORMED"
UNKNOWN_TYPE = "UNKNOWN_TYPE"
FORBIDDEN = "FORBIDDEN"
INTERNAL = "INTERNAL"
OTHER = "other"  # the `type` label of what is not one of Kind
REASONS = ", ".join(r.value for r in AdjustmentReason)


def idempotency_key(source: str, event_id: str) -> str:
    """`<source> <id>`: a CloudEvent's source is a URI-reference, which has no space, so the
    first space splits the key unambiguously (a GraphQL call sending this key dedupes with it)."""
    return f"{source} {event_id}"


@dataclass(frozen=True, slots=True)
class Ingested:
    """A message that decoded: `line` for an adjust or a set, `sale` for a sale."""

    kind: Kind
    key: str
    location: str
    line: StockLine | None = None
    sale: Sale | None = None


@dataclass(frozen=True, slots=True)
class Unusable:
    """A message that cannot be applied, and why (its dead letter's code and reason)."""

    code: str
    reason: str
    kind: Kind | None = None

    @property
    def label(self) -> str:
        return self.kind.value if self.kind is not None else OTHER


class _Malformed(Exception):
    pass


def decode(body: bytes) -> Ingested | Unusable:
    """The command in a structured-mode CloudEvent, or MALFORMED (not JSON, not a CloudEvent 1.0,
    a field missing or of the wrong type) or UNKNOWN_TYPE. The values' rules (codes, figures,
    limits) are the mutations' own checks, run later."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        return Unusable(MALFORMED, f"not UTF-8 JSON: {error}")
    if not isinstance(document, dict):
        return Unusable(MALFORMED, "not a JSON object")
    try:
        return _event(document)
    except _Malformed as error:
        kind = document.get("type")
        return Unusable(MALFORMED, str(error),
                        Kind(kind) if kind in {k.value for k in Kind} else None)


def _event(document: dict[str, Any]) -> Ingested | Unusable:
    if document.get("specversion") != "1.0":
        raise _Malformed("not a CloudEvent: specversion must be \"1.0\"")
    event_id, source, kind = (_text(document, name, "") for name in ("id", "source", "type"))
    if any(c.isspace() for c in source):
        raise _Malformed("source must be a URI-reference: no spaces")
    content = document.get("datacontenttype")
    if content is not None and not (isinstance(content, str) and _json_content(content)):
        raise _Malformed(f"datacontenttype must be application/json, got {content!r}")
    if kind not in {k.value for k in Kind}:
        return Unusable(UNKNOWN_TYPE, f"unknown type {kind!r}; known: "
                        + ", ".join(k.value for k in Kind))
    data = document.get("data")
    if not isinstance(data, dict):
        raise _Malformed("data must be a JSON object")
    key = idempotency_key(source, event_id)
    if kind == Kind.ADJUST.value:
        reason = _text(data, "reason")
        if reason not in {r.value for r in AdjustmentReason}:
            raise _Malformed(f"data.reason must be one of {REASONS}, got {reason!r}")
        line = StockLine(sku=_text(data, "sku"), location=_text(data, "location"),
                         delta=_int(data, "delta"), reason=AdjustmentReason(reason),
                         reference=_optional_text(data, "reference"), idempotency_key=key)
        return Ingested(Kind.ADJUST, key, line.location, line=line)
    if kind == Kind.SET.value:
        line = StockLine(sku=_text(data, "sku"), location=_text(data, "location"),
                         on_hand=_int(data, "onHand"),
                         safety_stock=_optional_int(data, "safetyStock"),
                         expected_version=_optional_int(data, "expectedVersion"),
                         reference=_optional_text(data, "reference"), idempotency_key=key)
        return Ingested(Kind.SET, key, line.location, line=line)
    location = _text(data, "location")
    sale = Sale(sku=_text(data, "sku"), quantity=_int(data, "quantity"),
                happened_at=_time(data, "happenedAt"),
                reference=_optional_text(data, "reference"), idempotency_key=key)
    return Ingested(Kind.SALE, key, location, sale=sale)


def _json_content(content: str) -> bool:
    media = content.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _text(data: dict[str, Any], name: str, prefix: str = "data.") -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise _Malformed(f"{prefix}{name} must be a non-empty string")
    return value


def _optional_text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise _Malformed(f"data.{name} must be a string or null")
    return value


def _int(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Malformed(f"data.{name} must be an integer")
    return value


def _optional_int(data: dict[str, Any], name: str) -> int | None:
    return None if data.get(name) is None else _int(data, name)


def _time(data: dict[str, Any], name: str) -> datetime:
    value = _text(data, name)
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise _Malformed(f"data.{name} must be an RFC 3339 time, got {value!r}") from None


def refusal(error: StockError) -> Unusable:
    """A mutation's refusal as a dead letter's code and reason (each failed field named)."""
    parts = [f"{e.field[-1]}: {e.message}" if e.field else e.message for e in error.errors]
    return Unusable(error.code, "; ".join(parts))


def dead_letter(unusable: Unusable, subject: str, sequence: int, body: bytes) -> dict[str, Any]:
    """The dead letter's JSON: why, where the message was, and the message itself (as text, or
    base64 with `messageBase64` true when it is not UTF-8)."""
    letter: dict[str, Any] = {"code": unusable.code, "reason": unusable.reason,
                              "subject": subject, "streamSequence": sequence}
    try:
        letter["message"] = body.decode("utf-8")
    except UnicodeDecodeError:
        letter["message"] = base64.b64encode(body).decode("ascii")
        letter["messageBase64"] = True
    return letter
