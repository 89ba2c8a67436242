"""REDIS_URL as a single Redis or a Redis Cluster (`redis+cluster://h:p,h:p` or REDIS_CLUSTER=true):
Settings.from_env checks it, bootstrap/resources.py reads the nodes to build the cluster client."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}  # scheme -> TLS
PLAIN_SCHEMES = {"redis": False, "rediss": True}


@dataclass(frozen=True)
class ClusterAddress:
    """Where a cluster client starts: seed nodes (it learns the rest), TLS, credentials."""

    nodes: tuple[tuple[str, int], ...]
    tls: bool = False
    username: str | None = None
    password: str | None = None


def is_cluster(url: str | None, flag: bool) -> bool:
    """Whether REDIS_URL names a cluster (by scheme, or a redis:// URL with REDIS_CLUSTER)."""
    if not url:
        if flag:
            raise ValueError("REDIS_CLUSTER=true needs REDIS_URL (redis://host:port)")
        return False
    return flag or url.partition("://")[0].lower() in CLUSTER_SCHEMES


def cluster_address(url: str) -> ClusterAddress:
    """The seed nodes of `redis+cluster://[user:pass@]host:port[,host:port...]` (or of a
    redis:// URL with REDIS_CLUSTER=true); ValueError naming REDIS_URL on anything else."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    tls = CLUSTER_SCHEMES.get(scheme, PLAIN_SCHEMES.get(scheme))
    if not sep or tls is None:
        raise ValueError(f"REDIS_URL for a cluster must be redis+cluster://host:port[,...], "
                         f"got {url!r}")
    netloc = rest.split("/", 1)[0].split("?", 1)[0]
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, _, secret = userinfo.partition(":")
        username, password = unquote(user) or None, unquote(secret) or None
    nodes: list[tuple[str, int]] = []
    for part in hosts.split(","):
        host, colon, port = part.strip().rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"REDIS_URL: each cluster node must be host:port, got {part!r}")
        nodes.append((host.strip("[]"), int(port)))
    db = rest.split("/", 1)[1].split("?", 1)[0] if "/" in rest else ""
    if db not in ("", "0"):
        raise ValueError(f"REDIS_URL: a Redis Cluster has only database 0, got /{db}")
    return ClusterAddress(tuple(nodes), tls, username, password)
