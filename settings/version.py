"""The server's version, kept in one place: pyproject.toml's `version`; cli.py (`--version`),
bootstrap/banner.py and web/ops_routes.py (/healthz) read it."""

from __future__ import annotations

import functools
import importlib.metadata
import tomllib
from pathlib import Path

DISTRIBUTION = "inventory-server"
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


@functools.cache
def version() -> str:
    """pyproject.toml's version when run from a checkout (the usual way: `make run`, the
    Dockerfile), else the installed distribution's metadata; "unknown" if neither is there.
    The checkout comes first: a stale install in the same virtualenv cannot contradict it."""
    try:
        with PYPROJECT.open("rb") as file:
            found = tomllib.load(file)["project"]["version"]
        return str(found)
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        pass
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
