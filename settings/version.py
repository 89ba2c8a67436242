"""The server's version, kept in one place (pyproject.toml's `version`): the installed
distribution's metadata, else pyproject.toml read from the checkout the server runs from; cli.py
(`--version`, the banner) and web/ops_routes.py (/healthz) read it."""

from __future__ import annotations

import functools
import importlib.metadata
import tomllib
from pathlib import Path

DISTRIBUTION = "inventory-server"
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


@functools.cache
def version() -> str:
    """pyproject.toml's version when run from a checkout (the usual way: `make run`), else the
    installed distribution's; "unknown" if neither is there."""
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
