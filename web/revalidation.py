"""A revalidated GET answered 304 before its query runs, for plain SKU reads whose every field
moves only with a ledger entry or a catalogue upsert; web/view.py and web/fast_path.py call it.

Why it is never stale. The documents it takes read `sku(code)` / `skusByCode(codes)` with
fields among SKU_FIELDS, their `levels` (LEVEL_FIELDS) and the levels' `location`
(LOCATION_FIELDS), no arguments, fragments or directives. Every change of a level appends a
ledger entry, moving its SKU's `last_sequence` in the same transaction (the ledger's core
invariant: `server.py check` reports a level that disagrees with it, and its repair is an
entry too); a SKU's name and threshold, and a location's, change only by an upsert, which
moves the catalogue version in its transaction. So the token (store/catalogue_version.py:
the version and the SKUs' sequences, one statement) names every state such a read can show,
and both parts only grow. Where the instance's read model answers, the token is the model's
own (feed/read_model.py's `token`: its entries' sequences and the catalogue notices it saw),
never one read from SQL, which may be ahead of the model until the feed delivers.

`before` reads the token of a GET that names an ETag before its query runs and leaves it on
the request (a GET without one costs nothing here); `after` keeps
(caller, media type, document, variables, operation) -> (token, the ETag web/read_cache.py
gave the answer). A later GET naming that ETag whose token is still the same answers 304
without running: no write moved the token since before that execution began, so every row it
read is as it was, and the answer's bytes (and their ETag) would be the same. Any other case
runs the query as usual (and may still get a 304 from web/read_cache.py). Bundles are left
out: their figures move with their components' sequences.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLSyntaxError,
    ListValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
)
from starlette.types import Scope

from domain.access import Principal
from domain.rules import text_fault
from ops.metrics import HTTP_CACHE
from resolvers.context import Context
from resolvers.limits import DOCUMENTS
from resolvers.queries import MAX_CODES
from service import views
from web.read_cache import Caching, control, matches, visibility

Allowed = Mapping[str, "Allowed | None"]
LOCATION_FIELDS: Allowed = {"code": None, "name": None, "kind": None, "__typename": None}
LEVEL_FIELDS: Allowed = {
    name: None for name in ("sku", "onHand", "reserved", "safetyStock", "available", "version",
                            "updatedAt", "incoming", "__typename")
} | {"location": LOCATION_FIELDS}
SKU_FIELDS: Allowed = {
    name: None for name in ("code", "name", "lowStockThreshold", "onHand", "reserved",
                            "available", "status", "sequence", "incoming", "isBundle",
                            "__typename")
} | {"levels": LEVEL_FIELDS}
ROOTS = {"sku": "code", "skusByCode": "codes"}  # the field, its one argument
PENDING = "inventory.revalidation"  # scope key: `before`'s token for `after`

Key = bytes  # a digest: a remembered read weighs the same whatever its document's length


class NotModified(Exception):
    """Answer 304 with these headers; nothing ran."""

    def __init__(self, caching: Caching) -> None:
        super().__init__(caching.etag)
        self.caching = caching


@dataclass(frozen=True, slots=True)
class _Pending:
    key: Key
    token: Hashable  # store/catalogue_version.py's Token, or the read model's


def _key(*parts: bytes) -> Key:
    digest = hashlib.blake2b(digest_size=20)
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


def _fields(selections: SelectionSetNode | None, allowed: Allowed) -> bool:
    for node in selections.selections if selections else ():
        if not isinstance(node, FieldNode) or node.arguments or node.directives:
            return False
        if node.name.value not in allowed:
            return False
        inner = allowed[node.name.value]
        if (inner is None) != (node.selection_set is None):
            return False
        if inner is not None and not _fields(node.selection_set, inner):
            return False
    return True


def arguments(document: DocumentNode, operation_name: str | None) -> list[ValueNode] | None:
    """The `code`/`codes` values of a document this module may answer, or None."""
    if len(document.definitions) != 1:
        return None
    operation = document.definitions[0]
    if (
        not isinstance(operation, OperationDefinitionNode)
        or operation.operation is not OperationType.QUERY or operation.directives
        or (operation_name is not None and (operation.name is None
                                            or operation.name.value != operation_name))
    ):
        return None
    found: list[ValueNode] = []
    for node in operation.selection_set.selections:
        if not isinstance(node, FieldNode) or node.directives:
            return None
        if node.name.value == "__typename" and not node.arguments and not node.selection_set:
            continue
        argument, given = ROOTS.get(node.name.value), node.arguments or ()
        if (argument is None or len(given) != 1 or given[0].name.value != argument
                or not node.selection_set or not _fields(node.selection_set, SKU_FIELDS)):
            return None
        found.append(given[0].value)
    return found


def codes(values: list[ValueNode], variables: Mapping[str, Any]) -> list[str] | None:
    found: list[str] = []
    for value in values:
        items = value.values if isinstance(value, ListValueNode) else (value,)
        for item in items:
            if isinstance(item, StringValueNode):
                found.append(item.value)
            elif isinstance(item, VariableNode):
                given = variables.get(item.name.value)
                given = given if isinstance(given, list) else [given]
                if not all(isinstance(code, str) for code in given):
                    return None
                found.extend(given)
            else:
                return None
    return sorted(set(found))


class Revalidation:
    def __init__(self, *, max_tokens: int = 2000, size: int = 10_000) -> None:
        self.max_tokens = max_tokens
        self.size = size
        self._known: OrderedDict[Key, tuple[Hashable, str]] = OrderedDict()

    def _codes(self, text: str, name: str | None, variables: Mapping[str, Any]
               ) -> list[str] | None:
        try:  # the same parse the execution then finds in the cache
            document = DOCUMENTS.get(text, self.max_tokens).document
        except GraphQLSyntaxError:
            return None
        values = arguments(document, name)
        return None if values is None else codes(values, variables)

    async def before(self, scope: Scope, context: Context, text: Any,
                     variables: Mapping[str, Any] | None, name: str | None, media_type: str,
                     if_none_match: str | None, max_age: int) -> None:
        """Raises NotModified, or leaves the token on the request for `after`."""
        if (scope["method"] != "GET" or not if_none_match or not isinstance(text, str)
                or context.auth_error):
            return  # a GET without a tag to revalidate pays nothing here
        wanted = self._codes(text, name, variables or {})
        if not wanted or len(wanted) > MAX_CODES or any(map(text_fault, wanted)):
            return  # the query refuses these itself
        # The token is never newer than what the query then reads, so a 304 is never stale:
        # with a read model it is the model's own (a token read from SQL may be ahead of the
        # model's entries until the feed delivers; remembered with their answer, it would
        # repeat that answer's 304 until the SKU's next change), and None while the model
        # would not answer every code; with a read replica it is read from the replica
        model = context.feed.read_model
        token: Hashable | None
        if model is not None:
            token = model.token(wanted)
        else:
            stale = getattr(context, "stale_reads", None)
            token = await views.catalogue_token(
                stale if stale is not None else context.inventory.pool, wanted)
        if token is None:
            return
        principal: Principal | None = context.principal
        key = _key(visibility(principal), media_type.encode(), text.encode(),
                   orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS),
                   (name or "").encode())
        known = self._known.get(key)
        if known is not None and known[0] == token and matches(if_none_match, known[1]):
            HTTP_CACHE.labels("not_modified_before_execution").inc()
            raise NotModified(Caching(control(principal, max_age), known[1], True))
        scope[PENDING] = _Pending(key, token)

    def after(self, scope: Scope, caching: Caching) -> None:
        """Remembers the ETag of an answer `before` saw the token of."""
        pending = scope.pop(PENDING, None)
        if not isinstance(pending, _Pending) or caching.etag is None:
            return
        self._known[pending.key] = (pending.token, caching.etag)
        self._known.move_to_end(pending.key)
        while len(self._known) > self.size:
            self._known.popitem(last=False)
