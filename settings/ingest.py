"""Ingestion from NATS JetStream (INGEST_*), read by Settings.from_env; bootstrap/ingest.py starts
the ingester only when INGEST_STREAM_URL and INGEST_SUBJECTS are both set."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from settings.values import duration, integer

# a NATS subject: tokens of visible characters without spaces or dots, `*` and `>` as wildcards
SUBJECT = re.compile(r"^[^\s.]+(\.[^\s.]+)*$")
STREAM_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class IngestSettings:
    url: str | None = None
    subjects: tuple[str, ...] = ()
    stream: str = "INGEST"
    consumer: str = "inventory-ingest"
    dead_letter_subject: str = "inventory.ingest.dead"
    dead_letter_stream: str = "INGEST_DEAD"
    # the API key the ingester acts as: its full token (inv_<prefix>_<secret>) as `keys create`
    # printed it, or ADMIN_API_KEY's value
    api_key: str | None = None
    batch: int = 500
    # JetStream redelivers a message not acknowledged this long after delivery (the ingester
    # marks a batch in progress while it works on it); a new leader waits at most this long
    # for what its predecessor held, so one store's messages keep their order
    ack_wait: float = 10.0
    max_deliveries: int = 20  # a message failing on this many deliveries: dead-lettered INTERNAL
    retry: float = 2.0  # the lock, NATS and the database are tried again this often
    key_recheck: float = 5.0  # how often the key is looked up again (revoked, narrowed)

    @property
    def wanted(self) -> bool:
        return bool(self.url and self.subjects)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IngestSettings:
        url = env.get("INGEST_STREAM_URL") or None
        if url and not url.startswith(("nats://", "tls://")):
            raise ValueError(f"INGEST_STREAM_URL must be nats://host:port, got {url!r}")
        subjects = tuple(s.strip() for s in (env.get("INGEST_SUBJECTS") or "").split(",")
                         if s.strip())
        for subject in subjects:
            if not SUBJECT.fullmatch(subject):
                raise ValueError(f"INGEST_SUBJECTS: {subject!r} is not a NATS subject")
        dead = (env.get("INGEST_DEAD_LETTER_SUBJECT") or "inventory.ingest.dead").strip()
        if not SUBJECT.fullmatch(dead) or "*" in dead or ">" in dead:
            raise ValueError(f"INGEST_DEAD_LETTER_SUBJECT must be a subject without wildcards, "
                             f"got {dead!r}")
        for subject in subjects:
            if matches(subject, dead):
                raise ValueError(f"INGEST_SUBJECTS: {subject!r} would ingest the dead letters "
                                 f"({dead!r}, INGEST_DEAD_LETTER_SUBJECT)")
        stream = _name(env, "INGEST_STREAM", "INGEST")
        consumer = _name(env, "INGEST_CONSUMER", "inventory-ingest")
        dead_stream = _name(env, "INGEST_DEAD_LETTER_STREAM", f"{stream}_DEAD")
        if dead_stream == stream:
            raise ValueError("INGEST_DEAD_LETTER_STREAM must differ from INGEST_STREAM")
        api_key = env.get("INGEST_API_KEY") or None
        if url and subjects and not api_key:
            raise ValueError("INGEST_API_KEY is required with INGEST_STREAM_URL and "
                             "INGEST_SUBJECTS: the API key the ingester acts as")
        return cls(
            url=url, subjects=subjects, stream=stream, consumer=consumer,
            dead_letter_subject=dead, dead_letter_stream=dead_stream, api_key=api_key,
            batch=integer(env, "INGEST_BATCH", 500, minimum=1, maximum=10_000),
            ack_wait=duration(env.get("INGEST_ACK_WAIT") or "10s", "INGEST_ACK_WAIT"),
            max_deliveries=integer(env, "INGEST_MAX_DELIVERIES", 20, minimum=1, maximum=10_000),
            retry=duration(env.get("INGEST_RETRY") or "2s", "INGEST_RETRY"),
            key_recheck=duration(env.get("INGEST_KEY_RECHECK") or "5s", "INGEST_KEY_RECHECK"),
        )


def matches(pattern: str, subject: str) -> bool:
    """Whether the NATS subject `pattern` (`*` one token, `>` the rest) covers `subject`."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or token not in ("*", tokens[index]):
            return False
    return len(tokens) == len(wanted)


def _name(env: Mapping[str, str], name: str, default: str) -> str:
    value = (env.get(name) or default).strip()
    if not STREAM_NAME.fullmatch(value):
        raise ValueError(f"{name} must be 1-64 letters, digits, _ or -, got {value!r}")
    return value
