"""The partner feeds' settings (webhooks, the NATS JetStream stream, MQTT), read by
Settings.from_env; durations are written `500ms`, `5s`, `2m`, `1h`, `7d` or plain seconds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from settings.values import duration, flag, integer

__all__ = ["PartnerSettings", "duration"]

DEFAULT_SCHEDULE = "5s,30s,2m,10m,30m,1h,2h,4h,8h,8h"


def _duration(env: Mapping[str, str], name: str, default: str) -> float:
    return duration(env.get(name) or default, name)


@dataclass(frozen=True)
class PartnerSettings:
    event_source: str = "inventory"
    # webhooks: the schedule's entries are the waits before the 2nd, 3rd, ... attempt
    webhook_timeout: float = 10.0
    webhook_retry_schedule: tuple[float, ...] = (5, 30, 120, 600, 1800, 3600, 7200, 14400,
                                                 28800, 28800)
    webhook_disable_after: float = 86400.0
    webhook_secret_overlap: float = 86400.0
    webhook_allow_private_networks: bool = False
    webhook_retention_days: int = 30
    webhook_concurrency: int = 64  # attempts in flight per instance
    webhook_endpoint_concurrency: int = 4  # ... per endpoint and instance
    webhook_max_endpoints: int = 100
    webhook_poll_interval: float = 0.5  # other instances' deliveries, retries coming due
    # NATS JetStream
    event_stream_url: str | None = None
    event_stream_name: str = "INVENTORY"
    event_stream_subject_prefix: str = "inventory"
    event_stream_max_age: float = 7 * 86400.0
    event_stream_duplicate_window: float = 600.0
    # copies of the stream in a NATS cluster (JetStream R1..R5); EVENT_STREAM_URL may list
    # every node, comma-separated
    event_stream_replicas: int = 1
    # MQTT
    mqtt_url: str | None = None
    mqtt_topic_prefix: str = "inventory"
    mqtt_events: bool = False
    # the ledger tails (feed/tail.py): sweep for SKUs whose head is ahead; the relay's lock
    tail_sweep_interval: float = 1.0
    relay_lock_retry: float = 2.0
    # the partner feeds' own connections (fan-out, deliveries, relay), apart from the API's
    pool_size: int = 4

    @property
    def relay_wanted(self) -> bool:
        """The NATS/MQTT relay runs when either is configured."""
        return bool(self.event_stream_url or self.mqtt_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PartnerSettings:
        schedule = tuple(
            duration(part, "WEBHOOK_RETRY_SCHEDULE")
            for part in (env.get("WEBHOOK_RETRY_SCHEDULE") or DEFAULT_SCHEDULE).split(",")
            if part.strip())
        stream_url = env.get("EVENT_STREAM_URL") or None
        if stream_url and not all(u.strip().startswith(("nats://", "tls://"))
                                  for u in stream_url.split(",")):
            raise ValueError("EVENT_STREAM_URL must be nats://host:port (or several, "
                             f"comma-separated), got {stream_url!r}")
        replicas = integer(env, "EVENT_STREAM_REPLICAS", 1, minimum=1)
        if replicas > 5:
            raise ValueError(f"EVENT_STREAM_REPLICAS must be 1 to 5 (JetStream), got {replicas}")
        mqtt_url = env.get("MQTT_URL") or None
        if mqtt_url and not mqtt_url.startswith(("mqtt://", "mqtts://")):
            raise ValueError(f"MQTT_URL must be mqtt://host:port, got {mqtt_url!r}")
        return cls(
            event_source=env.get("EVENT_SOURCE") or "inventory",
            webhook_timeout=_duration(env, "WEBHOOK_TIMEOUT_SECONDS", "10"),
            webhook_retry_schedule=schedule,
            webhook_disable_after=_duration(env, "WEBHOOK_DISABLE_AFTER", "24h"),
            webhook_secret_overlap=_duration(env, "WEBHOOK_SECRET_OVERLAP", "24h"),
            webhook_allow_private_networks=flag(env, "WEBHOOK_ALLOW_PRIVATE_NETWORKS"),
            webhook_retention_days=integer(env, "WEBHOOK_RETENTION_DAYS", 30, minimum=1),
            webhook_concurrency=integer(env, "WEBHOOK_CONCURRENCY", 64, minimum=1),
            webhook_endpoint_concurrency=integer(env, "WEBHOOK_ENDPOINT_CONCURRENCY", 4, minimum=1),
            webhook_max_endpoints=integer(env, "WEBHOOK_MAX_ENDPOINTS", 100, minimum=1),
            webhook_poll_interval=_duration(env, "WEBHOOK_POLL_INTERVAL", "500ms"),
            event_stream_url=stream_url,
            event_stream_name=env.get("EVENT_STREAM_NAME") or "INVENTORY",
            event_stream_subject_prefix=env.get("EVENT_STREAM_SUBJECT_PREFIX") or "inventory",
            event_stream_max_age=_duration(env, "EVENT_STREAM_MAX_AGE", "7d"),
            event_stream_duplicate_window=_duration(env, "EVENT_STREAM_DUPLICATE_WINDOW", "10m"),
            event_stream_replicas=replicas,
            mqtt_url=mqtt_url,
            mqtt_topic_prefix=env.get("MQTT_TOPIC_PREFIX") or "inventory",
            mqtt_events=flag(env, "MQTT_EVENTS"),
            tail_sweep_interval=_duration(env, "PARTNER_SWEEP_INTERVAL", "1s"),
            relay_lock_retry=_duration(env, "RELAY_LOCK_RETRY", "2s"),
            pool_size=integer(env, "PARTNER_POOL_SIZE", 4, minimum=1),
        )
