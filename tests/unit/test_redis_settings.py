"""REDIS_URL as a single Redis or a Redis Cluster (settings/redis.py), and the NATS cluster settings."""

from __future__ import annotations

import pytest

from settings import Settings
from settings.redis import ClusterAddress, cluster_address


def test_a_plain_url_is_a_single_redis() -> None:
    settings = Settings.from_env({"REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert settings.redis_url == "redis://127.0.0.1:6379/0" and not settings.redis_cluster


def test_the_cluster_scheme_or_flag_names_a_cluster() -> None:
    by_scheme = Settings.from_env({"REDIS_URL": "redis+cluster://10.0.0.1:7000,10.0.0.2:7001"})
    by_flag = Settings.from_env({"REDIS_URL": "redis://10.0.0.1:7000", "REDIS_CLUSTER": "true"})
    assert by_scheme.redis_cluster and by_flag.redis_cluster


def test_cluster_address_reads_seed_nodes_tls_and_credentials() -> None:
    assert cluster_address("rediss+cluster://app:s%40cret@a.example:7000,[::1]:7001") == \
        ClusterAddress((("a.example", 7000), ("::1", 7001)), True, "app", "s@cret")
    assert cluster_address("redis://h:6379/0") == ClusterAddress((("h", 6379),))


@pytest.mark.parametrize(("env", "says"), [
    ({"REDIS_URL": "redis+cluster://"}, "host:port"),
    ({"REDIS_URL": "redis+cluster://a:7000,b"}, "'b'"),
    ({"REDIS_URL": "redis+cluster://a:99999"}, "host:port"),
    ({"REDIS_URL": "redis+cluster://a:7000/3"}, "only database 0"),
    ({"REDIS_URL": "memcached://a:7000", "REDIS_CLUSTER": "true"}, "redis+cluster://"),
    ({"REDIS_CLUSTER": "true"}, "needs REDIS_URL"),
    ({"REDIS_URL": "redis://a:7000", "REDIS_CLUSTER": "maybe"}, "true or false"),
])
def test_a_bad_cluster_url_is_refused_with_the_reason(env: dict[str, str], says: str) -> None:
    with pytest.raises(ValueError, match="REDIS_") as refused:
        Settings.from_env(env)
    assert says in str(refused.value)


def test_the_event_stream_may_list_a_clusters_nodes_and_its_replicas() -> None:
    partners = Settings.from_env({"EVENT_STREAM_URL": "nats://a:4222, nats://b:4222,tls://c:4222",
                                  "EVENT_STREAM_REPLICAS": "3"}).partners
    assert partners.event_stream_replicas == 3
    assert Settings.from_env({}).partners.event_stream_replicas == 1


@pytest.mark.parametrize(("env", "says"), [
    ({"EVENT_STREAM_URL": "nats://a:4222,http://b:4222"}, "comma-separated"),
    ({"EVENT_STREAM_REPLICAS": "0"}, "must be positive"),
    ({"EVENT_STREAM_REPLICAS": "7"}, "1 to 5"),
])
def test_a_bad_event_stream_setting_is_refused_with_the_reason(
    env: dict[str, str], says: str
) -> None:
    with pytest.raises(ValueError, match="EVENT_STREAM_") as refused:
        Settings.from_env(env)
    assert says in str(refused.value)
