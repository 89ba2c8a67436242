"""What-if, not the project's code: the same app plus Strawberry's ParserCache (the server
already caches validation, schema/root.py), so the report can show what caching parsed
documents would buy. Served as `uvicorn bench.whatif:app`; nothing outside bench/ changes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import strawberry
from strawberry.extensions import ParserCache, SchemaExtension

import server
from schema import root

_build_schema = root.build_schema


def cached_schema(
    extensions: Sequence[Callable[[], SchemaExtension]] = (),
) -> strawberry.Schema:
    return _build_schema([*extensions, lambda: ParserCache(maxsize=1024)])


server.build_schema = cached_schema  # type: ignore[attr-defined]
app = server.create_app()
