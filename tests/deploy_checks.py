"""What the deployment files are checked against, read from the code itself: the environment
variables the server reads, its routes, its settings' defaults; tests/unit/test_k8s.py,
test_compose.py and test_dockerfile.py use them."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import yaml

from settings import Settings

ROOT = Path(__file__).resolve().parents[1]
# the server's own code: what the image copies and what may read the environment
PACKAGES = ("bootstrap", "web", "schema", "resolvers", "service", "feed", "store", "domain",
            "ops", "settings", "compat")
ENTRY_MODULES = ("server.py", "cli.py")
K8S = ROOT / "deploy" / "k8s"
SECRETS = {"DATABASE_URL", "REDIS_URL", "ADMIN_API_KEY", "METRICS_TOKEN"}


class _Reads(dict[str, str]):
    """An empty environment that notes every name asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.names.add(key)
        return super().get(key, default)


def server_modules() -> list[Path]:
    found = [ROOT / name for name in ENTRY_MODULES]
    for package in PACKAGES:
        found += sorted((ROOT / package).rglob("*.py"))
    return found


def _environ_reads(path: Path) -> set[str]:
    """Names read as os.environ.get("X") / os.environ["X"] / os.getenv("X") in one module."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        target: ast.expr | None = None
        if isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute):
            owner = ast.unparse(node.func.value)
            if (owner, node.func.attr) in {("os.environ", "get"), ("os", "getenv")}:
                target = node.args[0]
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            target = node.slice
        if isinstance(target, ast.Constant) and isinstance(target.value, str):
            names.add(target.value)
    return names


def env_names() -> set[str]:
    """Every environment variable the server reads: Settings.from_env's, and the few read
    directly (OpenTelemetry's endpoint, PROMETHEUS_MULTIPROC_DIR)."""
    reads = _Reads()
    Settings.from_env(reads)
    names = set(reads.names)
    for path in server_modules():
        names |= _environ_reads(path)
    return names


def routes() -> set[str]:
    """The HTTP paths the app serves (built, not started: nothing connects)."""
    from bootstrap.app import build_app

    app: Any = build_app(Settings(http_fast_path=False))
    while not hasattr(app, "routes") and hasattr(app, "app"):  # the outer ASGI wrappers
        app = app.app
    found = {route.path for route in getattr(app, "routes", [])}
    assert found, "no Starlette app found under build_app's wrappers"
    return found


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def manifests() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def one(kind: str) -> dict[str, Any]:
    found = [doc for path in manifests() for doc in load_all(path) if doc["kind"] == kind]
    assert len(found) == 1, f"one {kind} expected in deploy/k8s/, found {len(found)}"
    return found[0]


def container(kind: str) -> dict[str, Any]:
    containers: list[dict[str, Any]] = one(kind)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def config() -> dict[str, str]:
    data: dict[str, str] = one("ConfigMap")["data"]
    return data
