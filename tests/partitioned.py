"""The migrations rewritten so that the hot SKU-keyed tables are hash-partitioned by sku_id
(SCALING.md; tests/conftest.py builds its template from them with TEST_PARTITIONED=1, and
tests/integration/test_partitioned_schema.py checks them).

Only 0001_core.sql changes: its CREATE TABLE of each table in PARTITIONED gains
`PARTITION BY HASH (sku_id)` and PARTITIONS partitions; every later migration is applied as
written, on top of the partitioned tables. The files keep their names, so a server started on
such a database finds nothing pending (store/migrations.py compares names)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from store.migrations import MIGRATIONS_DIR, migration_files

# reservations cannot be: its primary key (id) does not hold sku_id, and stock_events,
# reservation_components and the partner tables reference it by id alone (SCALING.md)
PARTITIONED = ("stock_levels", "stock_events")
PARTITIONS = 8


def partitioned_core(sql: str, tables: tuple[str, ...] = PARTITIONED,
                     partitions: int = PARTITIONS) -> str:
    """0001_core.sql with `tables` hash-partitioned by sku_id."""
    for table in tables:
        found = re.search(rf"CREATE TABLE {table} \((.*?)\n\);\n", sql, re.S)
        if found is None:
            raise ValueError(f"no CREATE TABLE {table} in the core migration")
        parts = "".join(
            f"CREATE TABLE {table}_p{n} PARTITION OF {table} "
            f"FOR VALUES WITH (MODULUS {partitions}, REMAINDER {n});\n"
            for n in range(partitions)
        )
        sql = (sql[:found.start()] + f"CREATE TABLE {table} ({found[1]}\n) "
               f"PARTITION BY HASH (sku_id);\n{parts}" + sql[found.end():])
    return sql


def variant_dir(tables: tuple[str, ...] = PARTITIONED) -> Path:
    """A directory of the migrations with `tables` partitioned (left for the process's life)."""
    target = Path(tempfile.mkdtemp(prefix="inventory-partitioned-"))
    for path in migration_files():
        shutil.copy(path, target / path.name)
    core = target / "0001_core.sql"
    core.write_text(partitioned_core(core.read_text(), tables))
    return target


def migrations_for_tests() -> Path:
    """What tests/conftest.py migrates its template with: the partitioned variant when
    TEST_PARTITIONED=1, the migrations as written otherwise."""
    return variant_dir() if os.environ.get("TEST_PARTITIONED") == "1" else MIGRATIONS_DIR
