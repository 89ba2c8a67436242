"""The bundle step of every ledger tail's round (feed/tail.py): the changes of bundles made of the
round's SKUs, before the handler; the sink's figures of them kept, for what it handed on, after."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg

from domain.bundle_changes import Bundle, Figures, figures_of, replay
from domain.changes import LedgerChange
from store import bundle_figures as store

# Entries read per component beyond the sink's cursor to take it back there; a component
# further behind (a broker down for long) is taken as it is now where the window ends.
WINDOW = 1000


@dataclass(frozen=True, slots=True)
class BundleRound:
    """A round's changes with their `bundles` filled in, and what `keep` needs afterwards."""

    changes: Sequence[LedgerChange]
    bundles: Sequence[Bundle] = ()
    before: Mapping[int, Figures] = field(default_factory=dict)  # by bundle id
    stored: Mapping[int, Figures | None] = field(default_factory=dict)


async def attach(conn: asyncpg.Connection, sink: str,
                 changes: Sequence[LedgerChange]) -> BundleRound:
    """Within the round's transaction, before the handler: one statement when no bundle is made
    of the round's SKUs; else the sink's figures of those bundles are locked until the round
    ends and the changes get the bundle figures they moved (domain/bundle_changes.py)."""
    if not changes:
        return BundleRound(changes)
    bundles = await store.made_of(conn, sorted({c.sku_id for c in changes}))
    if not bundles:
        return BundleRound(changes)
    stored = await store.lock(conn, sink, [b.id for b in bundles])
    levels = await store.levels(conn, sink, sorted({c.sku_id for b in bundles
                                                    for c in b.components}), WINDOW)
    sent = {bundle_id: f for bundle_id, f in stored.items() if f is not None}
    replayed = replay(changes, bundles, levels, sent)
    return BundleRound(replayed.changes, bundles, replayed.before, stored)


async def keep(conn: asyncpg.Connection, sink: str, step: BundleRound,
               handled: Mapping[int, int]) -> None:
    """After the handler, in the same transaction: each bundle's figures as of the last entry
    handed on (`handled`: by sku_id, the last sequence) that is made of its components; what
    was not handed on is replayed next round against them."""
    if not step.bundles:
        return
    ids = {b.sku: b.id for b in step.bundles}
    containing: dict[int, list[int]] = {}
    for bundle in step.bundles:
        for component in bundle.components:
            containing.setdefault(component.sku_id, []).append(bundle.id)
    figures = dict(step.before)
    touched: set[int] = set()
    for change in step.changes:
        if change.event.sequence > handled.get(change.sku_id, 0):
            continue
        touched.update(containing.get(change.sku_id, ()))
        for moved in change.bundles:
            figures[ids[moved.sku]] = figures_of(moved)
    await store.save(conn, sink, {b: figures[b] for b in sorted(touched)
                                  if step.stored.get(b) != figures[b]})


def chains(changes: Sequence[LedgerChange]) -> list[list[LedgerChange]]:
    """The round's changes as runs that a sink may send side by side, each in the round's
    order: one per SKU, except that SKUs whose entries moved a common bundle are one run, so
    that bundle's events go out in the order they were computed (and a run stopped by a
    failure leaves a prefix handed on)."""
    parent: dict[int, int] = {}

    def root(sku_id: int) -> int:
        while parent.setdefault(sku_id, sku_id) != sku_id:
            sku_id = parent[sku_id]
        return sku_id

    first: dict[str, int] = {}  # bundle code -> the first SKU that moved it
    for change in changes:
        root(change.sku_id)
        for moved in change.bundles:
            other = first.setdefault(moved.sku, change.sku_id)
            parent[root(change.sku_id)] = root(other)
    runs: dict[int, list[LedgerChange]] = {}
    for change in changes:
        runs.setdefault(root(change.sku_id), []).append(change)
    return list(runs.values())
