"""The stock formula's two homes agree: migration 0003's SQL functions and domain/model.py."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.model import availability_status, available_quantity

INT_MAX = 2**31 - 1

# (on_hand, reserved, safety_stock): the level figures are integer columns.
LEVELS = [
    (0, 0, 0),
    (1, 0, 0),
    (10, 4, 2),
    (5, 5, 0),  # all of it reserved
    (7, 0, 7),  # all of it safety stock
    (3, 3, 5),  # safety stock above what is left
    (5, 0, 9),  # safety stock above on_hand
    (0, 0, 5),
    (2, 5, 0),  # reserved above on_hand (the table forbids it; the formula still clamps)
    (-3, 0, 0),  # negatives, outside the table's CHECKs: clamped, never below zero
    (-5, -5, 0),
    (0, -3, 0),
    (INT_MAX, 0, 0),
    (INT_MAX, 1, 1),
    (INT_MAX, INT_MAX, 0),
    (INT_MAX, 0, INT_MAX),
    (0, INT_MAX, 1),  # exactly -2**31 before the clamp
]

# (available, low_stock_threshold): available is a SKU's sum over its levels, so bigint.
STATUSES = [
    (0, 5),
    (0, 0),
    (-1, 5),
    (1, 0),  # threshold 0: any stock at all is IN_STOCK
    (1, 1),
    (2, 1),
    (1, 5),
    (4, 5),
    (5, 5),  # available == threshold is still LOW_STOCK
    (6, 5),
    (0, INT_MAX),
    (INT_MAX, INT_MAX),
    (INT_MAX, INT_MAX - 1),
    (3 * INT_MAX, INT_MAX),  # a sum past int32
]


@pytest.mark.parametrize(("on_hand", "reserved", "safety_stock"), LEVELS)
async def test_stock_available_agrees_with_available_quantity(
    pool: asyncpg.Pool, on_hand: int, reserved: int, safety_stock: int
) -> None:
    sql = await pool.fetchval("SELECT stock_available($1, $2, $3)", on_hand, reserved, safety_stock)
    assert sql == available_quantity(on_hand, reserved, safety_stock)


@pytest.mark.parametrize(("available", "threshold"), STATUSES)
async def test_stock_status_agrees_with_availability_status(
    pool: asyncpg.Pool, available: int, threshold: int
) -> None:
    sql = await pool.fetchval("SELECT stock_status($1, $2)", available, threshold)
    assert sql == availability_status(available, threshold).value


# Levels as the table allows them (0 <= reserved <= on_hand, safety_stock >= 0), small values
# mixed with large ones so that both the thresholds and the int32 edges get hit.
figures = st.integers(0, 12) | st.integers(0, INT_MAX)
levels = figures.flatmap(
    lambda on_hand: st.tuples(st.just(on_hand), st.integers(0, on_hand), figures)
)

SKU_FIGURES = """
SELECT sum(stock_available(l.on_hand, l.reserved, l.safety_stock)) AS available,
       stock_status(sum(stock_available(l.on_hand, l.reserved, l.safety_stock)), $4) AS status
FROM unnest($1::int[], $2::int[], $3::int[]) AS l(on_hand, reserved, safety_stock)
"""


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sku_levels=st.lists(levels, min_size=1, max_size=4), threshold=figures)
async def test_a_skus_figures_agree_over_random_levels(
    pool: asyncpg.Pool, sku_levels: list[tuple[int, int, int]], threshold: int
) -> None:
    """The SKU-wide figures as the queries compute them: summed levels, then the status."""
    r = await pool.fetchrow(
        SKU_FIGURES, [lv[0] for lv in sku_levels], [lv[1] for lv in sku_levels],
        [lv[2] for lv in sku_levels], threshold,
    )
    available = sum(available_quantity(*lv) for lv in sku_levels)
    assert (r["available"], r["status"]) == (
        available, availability_status(available, threshold).value)


ROOT = Path(__file__).resolve().parents[2]
SPELLED_OUT = re.compile(
    r"greatest\s*\(|THEN\s+'(OUT_OF|LOW)_STOCK'"
    # available written out, in Python or SQL, in either order, with or without a row prefix
    r"|on_hand\s*-\s*\(?\s*(\w+\.)?(reserved|safety_stock)\s*[-+]\s*(\w+\.)?(reserved|safety_stock)",
    re.IGNORECASE,
)
# The formula's two homes: migration 0003 (migrations/ is not scanned) and its Python twin.
TWIN = ROOT / "domain" / "model.py"


def _source_files() -> list[Path]:
    tops = [p for p in ROOT.iterdir()
            if not p.name.startswith(".") and p.name not in ("tests", "migrations")]
    return sorted(f for top in tops for f in ([top] if top.is_file() else top.rglob("*"))
                  if f.suffix in (".py", ".sql") and f != TWIN)


def test_no_query_spells_the_formula_out() -> None:
    """Queries call stock_available/stock_status and Python calls domain/model.py's twins; only
    migration 0003 and domain/model.py write the formula out."""
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in _source_files()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if SPELLED_OUT.search(line)
    ]
    assert not found
