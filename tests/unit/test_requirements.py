"""The two locks: requirements.lock is exactly the runtime closure of pyproject's dependencies
(what the image installs, with --no-deps), requirements-dev.lock the rest on top of it, and
every third-party import of the server is a distribution of requirements.lock (issue 15, item 5)."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib
from collections.abc import Mapping

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy_checks import ENTRY_MODULES, PACKAGES, ROOT, server_modules

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)$")
# every virtualenv has them; pip freeze leaves them out, and so do the locks
VENV_OWN = {"pip", "setuptools", "wheel"}
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def pins(name: str) -> dict[str, str]:
    """The lock's `name==version` lines by canonical name; the format is checked on the way."""
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    if name == "requirements-dev.lock":
        assert lines[0] == "-r requirements.lock", "the dev lock starts from the runtime one"
        lines = lines[1:]
    found = [PIN.match(line) for line in lines]
    assert all(found), [line for line, m in zip(lines, found, strict=True) if not m]
    names = [m[1] for m in found if m]
    assert names == sorted(names, key=str.lower), f"{name}: keep the pins sorted by name"
    by_name = {canonicalize_name(m[1]): m[2] for m in found if m}
    assert len(by_name) == len(names), f"{name}: a package pinned twice"
    return by_name


def closure(roots: list[str]) -> set[str]:
    """The distributions `roots` need, with their extras, for this interpreter: their own
    metadata's Requires-Dist, markers evaluated, walked to the end."""
    extras_of: dict[str, set[str]] = {}
    todo = [Requirement(r) for r in roots]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in extras_of and requirement.extras <= extras_of[name]:
            continue
        extras = extras_of.setdefault(name, set())
        extras |= requirement.extras
        for raw in metadata.requires(requirement.name) or []:
            needed = Requirement(raw)
            if needed.marker is None or any(
                    needed.marker.evaluate({"extra": extra}) for extra in extras | {""}):
                todo.append(needed)
    return set(extras_of) - VENV_OWN


def test_the_runtime_lock_is_the_closure_of_the_dependencies() -> None:
    runtime = pins("requirements.lock")
    needed = closure(PYPROJECT["dependencies"])
    assert needed - set(runtime) == set(), "needed by the server, missing in requirements.lock"
    assert set(runtime) - needed == set(), "in requirements.lock, needed by no dependency"


def test_the_dev_lock_adds_the_test_tools_and_repeats_no_runtime_pin() -> None:
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert set(runtime) & set(dev) == set()
    test_deps = {canonicalize_name(Requirement(r).name)
                 for r in PYPROJECT["optional-dependencies"]["test"]}
    assert test_deps - set(runtime) - set(dev) == set()
    assert {"pytest", "kubernetes-validate", "mypy"} <= set(dev)
    everything = closure([*PYPROJECT["dependencies"], *PYPROJECT["optional-dependencies"]["test"]])
    assert everything - set(runtime) - set(dev) == set(), "missing in requirements-dev.lock"
    assert set(dev) - everything == set(), "in requirements-dev.lock, needed by nothing declared"


def third_party_imports() -> dict[str, set[str]]:
    """Modules the server imports (`a.b.c`, or `a.b.name` for `from a.b import name`) that are
    neither its own nor the standard library, with the modules importing them."""
    own = {*PACKAGES, *(name.removesuffix(".py") for name in ENTRY_MODULES)}
    found: dict[str, set[str]] = {}
    for path in server_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                top = name.split(".")[0]
                if top not in own and top not in sys.stdlib_module_names:
                    found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def installer(dotted: str, tops: Mapping[str, list[str]]) -> str | None:
    """The distribution that installed `dotted`'s deepest module: by the top-level name, or,
    where several distributions share it (opentelemetry.*), by their files."""
    parts = dotted.split(".")
    candidates = {canonicalize_name(name) for name in tops.get(parts[0], [])}
    if len(candidates) <= 1:
        return next(iter(candidates), None)
    owners = {str(file): name for name in candidates
              for file in metadata.distribution(name).files or []}
    for depth in range(len(parts), 0, -1):
        stem = "/".join(parts[:depth])
        for candidate in (f"{stem}/__init__.py", f"{stem}.py"):
            if candidate in owners:
                return owners[candidate]
    return None


def test_every_server_import_comes_from_the_runtime_lock() -> None:
    runtime = pins("requirements.lock")
    tops = metadata.packages_distributions()
    imports = third_party_imports()
    assert {"asyncpg", "strawberry", "starlette", "uvicorn"} <= {i.split(".")[0] for i in imports}
    assert installer("opentelemetry.sdk.trace.TracerProvider", tops) == "opentelemetry-sdk"
    missing = {module: sorted(where) for module, where in imports.items()
               if installer(module, tops) not in runtime}
    assert missing == {}, "imported by the server, installed by no pin of requirements.lock"


def test_the_closure_walk_finds_what_a_dependency_needs() -> None:
    # uvicorn[standard] brings uvloop and httptools; plain uvicorn does not
    assert {"uvloop", "httptools", "h11", "click"} <= closure(["uvicorn[standard]"])
    assert "uvloop" not in closure(["uvicorn"])
