"""The served schema keeps every promise of the contract, and schema.graphql is current."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema as build_sdl
from graphql import find_breaking_changes

from schema.root import build_schema

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT.parent / "shared" / "contract" / "inventory.graphql"
EXPORTED = ROOT / "schema.graphql"


def test_no_breaking_change_against_the_contract() -> None:
    served = build_schema()._schema
    contract = build_sdl(CONTRACT.read_text()) if CONTRACT.exists() else None
    if contract is None:  # a checkout without ../shared still checks the committed SDL
        contract = build_sdl(EXPORTED.read_text())
    assert find_breaking_changes(contract, served) == []


def test_committed_sdl_is_current() -> None:
    exported = build_schema().as_str().strip()
    assert EXPORTED.read_text().strip() == exported, (
        "schema.graphql is stale: run `strawberry export-schema schema.root:schema "
        "--output schema.graphql`"
    )
