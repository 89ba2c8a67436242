"""Standard Webhooks signatures (HMAC-SHA256 over "id.timestamp.body") for the headers that
feed/webhook_delivery.py sends with each attempt."""

from __future__ import annotations

import base64
import hashlib
import hmac

PREFIX = "whsec_"


def key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret."""
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets: list[str], event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The webhook-* headers: one signature per secret (the new one and, during a rotation's
    overlap, the previous one), space separated."""
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, event_id, timestamp, body) for s in secrets),
    }
