"""The served schema keeps every promise of the contract, and schema.graphql is current."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import build_schema as build_sdl
from graphql import find_breaking_changes

from schema.root import build_schema

ROOT = Path(__file__).resolve().parents[2]
EXPORTED = ROOT / "schema.graphql"


def contract(name: str) -> Path:
    """The shared contract beside the checkout, else the copy in tests/contract/."""
    return next(p for p in (ROOT.parent / "shared" / "contract" / name,
                            ROOT / "tests" / "contract" / name) if p.exists())


CONTRACT = contract("inventory.graphql")


@pytest.mark.parametrize("name", ["inventory.graphql", "inventory-v2.graphql"])
def test_no_breaking_change_against_the_contract(name: str) -> None:
    """v1 (served since the start) and v2 in full (v1 plus every "(v2)" addition): every
    type, field, argument and enum value, with the contract's types."""
    served = build_schema()._schema
    promised = build_sdl(contract(name).read_text())
    assert [f"{c.type.name}: {c.description}" for c in find_breaking_changes(promised, served)] == []


def test_the_copies_in_tests_match_the_shared_contract() -> None:
    shared = ROOT.parent / "shared" / "contract"
    if not shared.exists():
        pytest.skip("no ../shared/contract beside this checkout: the copies are what we have")
    for name in ("inventory.graphql", "inventory-v2.graphql"):
        assert (ROOT / "tests" / "contract" / name).read_text() == (shared / name).read_text()


def test_committed_sdl_is_current() -> None:
    exported = build_schema().as_str().strip()
    assert EXPORTED.read_text().strip() == exported, (
        "schema.graphql is stale: run `strawberry export-schema schema.root:schema "
        "--output schema.graphql`"
    )
