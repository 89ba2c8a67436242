"""The served schema keeps every promise of the contract, and schema.graphql is current."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema as build_sdl
from graphql import find_breaking_changes

from schema.root import build_schema

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = next(p for p in (ROOT.parent / "shared" / "contract" / "inventory.graphql",
                            ROOT / "tests" / "contract" / "inventory.graphql") if p.exists())
EXPORTED = ROOT / "schema.graphql"


def test_no_breaking_change_against_the_contract() -> None:
    served = build_schema()._schema
    contract = build_sdl(CONTRACT.read_text())
    assert find_breaking_changes(contract, served) == []


def test_committed_sdl_is_current() -> None:
    exported = build_schema().as_str().strip()
    assert EXPORTED.read_text().strip() == exported, (
        "schema.graphql is stale: run `strawberry export-schema schema.root:schema "
        "--output schema.graphql`"
    )
