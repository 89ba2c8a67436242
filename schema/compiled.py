"""Compiled reads, run: a plan of schema/compiled_plan.py answered from the read model and the
request's loaders, without per-field execution (schema/execution.py's CompiledReads runs it).

It answers only the plain case: a refused scope, a bad argument, a missing row, a value out of
its type, anything unexpected raises `Fallback` (and a failure, such as a lost database, is
treated alike) and the whole operation runs the normal way
(reads change nothing), so errors, their paths and partial data are the normal path's own.
tests/api/test_compiled.py compares the two byte for byte over every read shape the suite sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from graphql.execution.values import get_argument_values

from domain.access import Scope
from domain.model import Sku, StockLevel
from domain.rules import text_fault
from ops.metrics import READ_MODEL_READS
from resolvers.context import Context
from resolvers.queries import MAX_CODES
from schema.compiled_plan import Fallback, Leaf, LevelsPlan, RootField, SkuPlan, check_int
from service.access import AccessError

__all__ = ["Fallback", "execute"]


def _can_read(context: Context) -> bool:
    if context.auth_error is not None:
        return False
    try:
        context.gatekeeper.check(context.principal, Scope.READ)
    except AccessError:
        return False
    return True


async def execute(plan: list[RootField], executor: Any) -> dict[str, Any]:
    """The operation's data, or Fallback."""
    context: Context = executor.context_value
    if not isinstance(context, Context) or not _can_read(context):
        raise Fallback
    variables = executor.variable_values
    data: dict[str, Any] = {}
    for root in plan:
        if root.sku is None:
            data[root.key] = root.name
            continue
        args = get_argument_values(root.field, root.node, variables)
        if root.name == "sku":
            codes = [args["code"]]
        else:
            codes = args["codes"]
            if not 0 <= len(codes) <= MAX_CODES:
                raise Fallback
        if any(text_fault(code) is not None for code in codes):
            raise Fallback
        skus = await _skus(context, codes)
        rendered = await _render_skus(context, root.sku, skus, variables)
        data[root.key] = (rendered[0] if rendered else None) if root.name == "sku" else rendered
    return data


async def _skus(context: Context, codes: Sequence[str]) -> list[Sku]:
    loaders = context.loaders
    model = loaders.model
    found: list[Sku | None] = [model.sku(code) for code in codes] if model else [None] * len(codes)
    missing = [code for code, sku in zip(codes, found, strict=True) if sku is None]
    if model is not None and len(missing) < len(codes):  # the loader counts the misses
        READ_MODEL_READS.labels("hit").inc(len(codes) - len(missing))
    if missing:
        loaded = dict(zip(missing, await loaders.sku.load_many(missing), strict=True))
        found = [sku if sku is not None else loaded[code] for code, sku in zip(codes, found,
                                                                                  strict=True)]
    return [sku for sku in found if sku is not None]


async def _levels(context: Context, skus: Sequence[Sku]) -> dict[int, list[StockLevel]]:
    loaders = context.loaders
    model = loaders.model
    found: dict[int, list[StockLevel]] = {}
    missing: list[Sku] = []
    for sku in skus:
        hit = model.levels(sku.id) if model is not None and not sku.is_bundle else None
        if hit is None:
            missing.append(sku)
        else:
            found[sku.id] = hit
    if missing:
        loaded = await asyncio.gather(*(loaders.levels_of(s.id, s.is_bundle) for s in missing))
        found.update(zip((s.id for s in missing), loaded, strict=True))
    return found


async def _locations(context: Context, ids: set[int]) -> dict[int, Any]:
    loaders = context.loaders
    model = loaders.model
    found: dict[int, Any] = {}
    for location_id in ids:
        hit = model.location(location_id) if model is not None else None
        if hit is not None:
            found[location_id] = hit
    missing = sorted(ids - found.keys())
    if missing:
        found.update(zip(missing, await loaders.location.load_many(missing), strict=True))
    return found


def _leaf_values(leaves: list[Leaf], value: Any, out: dict[str, Any]) -> None:
    for key, read, serialize in leaves:
        out[key] = serialize if read is None else serialize(read(value))


async def _render_skus(context: Context, plan: SkuPlan, skus: list[Sku],
                       variables: Any) -> list[dict[str, Any]]:
    levels = await _levels(context, skus) if plan.levels or plan.incoming else {}
    chosen: dict[tuple[int, str], list[StockLevel]] = {}
    for levels_plan in plan.levels:
        args = get_argument_values(levels_plan.field, levels_plan.node, variables)
        location = args.get("location")
        wanted_id: int | None = None
        if location is not None:
            if text_fault(location) is not None:
                raise Fallback
            wanted = await context.loaders.location_by_code.load(location)
            wanted_id = -1 if wanted is None else wanted.id
        for sku in skus:
            chosen[sku.id, levels_plan.key] = [
                lv for lv in levels[sku.id] if wanted_id is None or lv.location_id == wanted_id]
    location_ids = {lv.location_id for lvs in chosen.values() for lv in lvs} if any(
        p.location for p in plan.levels) else set()
    locations = await _locations(context, location_ids) if location_ids else {}
    rendered: list[dict[str, Any]] = []
    for sku in skus:
        fields: dict[str, Any] = {}
        _leaf_values(plan.leaves, sku, fields)
        for key in plan.incoming:
            fields[key] = check_int(sum(lv.incoming for lv in levels[sku.id]))
        for levels_plan in plan.levels:
            fields[levels_plan.key] = [_render_level(levels_plan, lv, locations)
                                       for lv in chosen[sku.id, levels_plan.key]]
        rendered.append({key: fields[key] for key in plan.order})
    return rendered


def _render_level(plan: LevelsPlan, level: StockLevel, locations: Mapping[int, Any]
                  ) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    _leaf_values(plan.leaves, level, fields)
    if plan.location is not None:
        location = locations.get(level.location_id)
        if location is None:
            raise Fallback
        inner: dict[str, Any] = {}
        _leaf_values(plan.location[1], location, inner)
        fields[plan.location[0]] = inner
    return {key: fields[key] for key in plan.order}

