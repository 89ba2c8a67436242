"""docker-compose.yml in step with the code and with deploy/k8s/: the variables are ones the
server reads (and the same names), the migration runs once before the replicas, health checks
ask real routes, the stop grace outlasts GRACE_SECONDS (issue 15, item 5)."""

from __future__ import annotations

import re
from typing import Any

from settings import Settings
from tests.deploy_checks import ROOT, SECRETS, container, env_names, load_all, routes

REPLICAS = ("inventory-1", "inventory-2")


def services() -> dict[str, dict[str, Any]]:
    (compose,) = load_all(ROOT / "docker-compose.yml")
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def environment(service: str) -> dict[str, str]:
    """The service's variables with ${NAME:?...} / ${NAME:-default} filled as an operator would."""
    raw: dict[str, str] = services()[service]["environment"]
    return {name: re.sub(r"\$\{[A-Z_]+:[?-][^}]*\}", "given", str(value))
            for name, value in raw.items()}


def seconds(duration: str) -> int:
    found = re.fullmatch(r"(\d+)s", duration)
    assert found, f"stop_grace_period {duration!r}: write it in seconds"
    return int(found[1])


def test_every_variable_is_one_the_server_reads_and_parses() -> None:
    read = env_names()
    for service in ("migrate", *REPLICAS):
        assert set(environment(service)) - read == set(), service
        Settings.from_env(environment(service))


def test_the_replicas_get_what_kubernetes_pods_get() -> None:
    k8s = {e["name"] for e in container("Deployment")["env"]} | {"MIGRATE_ON_START"}
    for service in REPLICAS:
        assert k8s <= set(environment(service)), service
        assert SECRETS - {"METRICS_TOKEN", "ADMIN_API_KEY"} <= set(environment(service))


def test_the_migration_runs_once_before_the_replicas() -> None:
    migrate = services()["migrate"]
    assert migrate["command"] == ["python", "server.py", "migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for service in REPLICAS:
        assert services()[service]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"}
        assert Settings.from_env(environment(service)).migrate_on_start is False
        assert services()[service]["image"] == migrate["image"]


def test_health_checks_ask_real_routes_and_gate_the_proxy() -> None:
    served = routes()
    for service in REPLICAS:
        check = " ".join(services()[service]["healthcheck"]["test"])
        (path,) = re.findall(r"127\.0\.0\.1:8000(/\w+)", check)
        assert path == "/readyz" and path in served
    assert services()["proxy"]["depends_on"] == {
        service: {"condition": "service_healthy"} for service in REPLICAS}
    upstreams = re.findall(r"server (\S+):(\d+)", (ROOT / "deploy" / "nginx.conf").read_text())
    port = Settings.from_env(environment(REPLICAS[0])).port
    assert upstreams == [(service, str(port)) for service in REPLICAS]


def test_the_stop_grace_outlasts_grace_seconds() -> None:
    for service in REPLICAS:
        grace = Settings.from_env(environment(service)).grace_seconds
        assert seconds(services()[service]["stop_grace_period"]) > grace
