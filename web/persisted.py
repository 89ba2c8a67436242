"""Persisted documents, resolved before anything parses a request's document: web/view.py and
web/fast_path.py call `PersistedQueries.run`.

Apollo's automatic persisted queries (`extensions.persistedQuery`, a sha256 hash standing for a
document sent once) and the registered-documents mode (PERSISTED_QUERIES_ONLY: a manifest's
documents run, nothing else; the rule is resolvers/registered.py's).

APQ documents live in a per-instance LRU (APQ_CACHE_SIZE) and, with Redis, under
`<prefix>:apq:<sha256>` for APQ_TTL_SECONDS, so instances behind a load balancer share them. A
document is stored only after it ran: one over the limits, or that does not parse or validate,
is never stored, nor one over 16 KiB. Redis trouble is a miss (the client sends the text).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import GraphQLError
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError
from starlette.responses import Response
from strawberry.types import ExecutionResult

from domain.access import Principal
from ops.metrics import PERSISTED
from resolvers.registered import REQUIRED, REQUIRED_MESSAGE, RegisteredDocuments
from schema.errors import error_code

log = logging.getLogger(__name__)

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
INVALID = "PERSISTED_QUERY_INVALID"
DOCUMENT_REFUSALS = frozenset({"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED",
                               "QUERY_TOO_COMPLEX", "INTROSPECTION_DISABLED"})
# a longer document runs, and is sent again each time: who sends many distinct long ones
# cannot fill the LRU's or Redis's memory at the rate limit's pace
MAX_DOCUMENT_CHARS = 16 * 1024
SHA256 = re.compile(r"^[0-9a-f]{64}$")
APOLLO_MANIFEST = "apollo-persisted-query-manifest"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class PersistedQueryError(Exception):
    """A refusal before parsing: its code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

    def result(self) -> ExecutionResult:
        return ExecutionResult(data=None, errors=[
            GraphQLError(self.message, extensions={"code": self.code})])


def load_manifest(path: Path) -> dict[str, str]:
    """{id: document} from an Apollo persisted-query manifest ({"format":
    "apollo-persisted-query-manifest", "operations": [{"id", "body", ...}]}) or a plain JSON
    map {sha256: document}, whose keys must be their documents' sha256."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"PERSISTED_QUERIES_FILE {path}: {error}") from None
    if isinstance(data, dict) and data.get("format") == APOLLO_MANIFEST:
        operations = data.get("operations")
        if not isinstance(operations, list) or not all(
            isinstance(o, dict) and isinstance(o.get("id"), str) and isinstance(o.get("body"), str)
            for o in operations
        ):
            raise ValueError(f"PERSISTED_QUERIES_FILE {path}: every operation needs id and body")
        return {o["id"]: o["body"] for o in operations}
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"PERSISTED_QUERIES_FILE {path}: not a map of sha256 to document")
    for key, document in data.items():
        if sha256(document) != key.lower():
            raise ValueError(f"PERSISTED_QUERIES_FILE {path}: {key} is not its document's sha256")
    return {k.lower(): v for k, v in data.items()}


@dataclass(frozen=True, slots=True)
class Resolved:
    query: Any  # what Strawberry is handed: the document, or the client's own value
    register: str | None = None  # the hash to store once the document ran without error


class PersistedQueries:
    def __init__(self, *, cache_size: int = 1000, redis: Redis | RedisCluster | None = None,
                 prefix: str = "inventory", ttl_seconds: int = 3600,
                 manifest: dict[str, str] | None = None, only: bool = False,
                 admin_bypass: bool = False) -> None:
        self.cache_size = cache_size
        self.redis = redis
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.manifest = manifest or {}
        self.documents = RegisteredDocuments(frozenset(self.manifest.values()), only,
                                             admin_bypass)
        self._lru: OrderedDict[str, str] = OrderedDict()

    async def resolve(self, query: Any, extensions: Any,
                      principal: Principal | None) -> Resolved:
        """The document to run; PersistedQueryError before anything parses it."""
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        locked = self.documents.locked(principal)
        if persisted is None:
            if self.documents.refuses(query, principal):
                raise PersistedQueryError(REQUIRED, REQUIRED_MESSAGE, 403)
            return Resolved(query)
        sha = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise PersistedQueryError(INVALID, "Unsupported persisted query version.", 400)
        if not isinstance(sha, str) or (not locked and not SHA256.match(sha.lower())):
            raise PersistedQueryError(INVALID, "persistedQuery.sha256Hash must be a sha256 "
                                      "in hexadecimal.", 400)
        if locked:
            return self._registered(sha, query)
        sha = sha.lower()
        if query is None or query == "":
            found = self.manifest.get(sha) or await self._lookup(sha)
            if found is None:
                raise PersistedQueryError(NOT_FOUND, "PersistedQueryNotFound", 200)
            PERSISTED.labels("hit").inc()
            return Resolved(found)
        if isinstance(query, str) and sha256(query) != sha:
            raise PersistedQueryError(HASH_MISMATCH, "provided sha does not match query", 400)
        return Resolved(query, register=sha if isinstance(query, str) else None)

    def _registered(self, sha: str, query: Any) -> Resolved:
        found = self.manifest.get(sha) or self.manifest.get(sha.lower())
        if found is None and query not in (None, ""):
            raise PersistedQueryError(REQUIRED, REQUIRED_MESSAGE, 403)
        if found is None:
            raise PersistedQueryError(NOT_FOUND, "PersistedQueryNotFound", 200)
        if query not in (None, "", found):
            raise PersistedQueryError(HASH_MISMATCH, "provided sha does not match query", 400)
        PERSISTED.labels("hit").inc()
        return Resolved(found)

    async def _lookup(self, sha: str) -> str | None:
        found = self._lru.get(sha)
        if found is not None:
            self._lru.move_to_end(sha)
            return found
        if self.redis is None:
            return None
        try:
            raw = await self.redis.get(f"{self.prefix}:apq:{sha}")
        except (RedisError, RedisClusterException, OSError, TimeoutError) as error:
            log.warning("persisted query lookup failed: %s", type(error).__name__)
            return None
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        if sha256(text) != sha:  # never run what does not match its hash
            return None
        self._remember(sha, text)
        return text

    def _remember(self, sha: str, text: str) -> None:
        if self.cache_size <= 0:
            return
        self._lru[sha] = text
        self._lru.move_to_end(sha)
        while len(self._lru) > self.cache_size:
            self._lru.popitem(last=False)

    async def register(self, sha: str, text: str) -> None:
        if len(text) > MAX_DOCUMENT_CHARS:
            return
        PERSISTED.labels("stored").inc()
        self._remember(sha, text)
        if self.redis is None:  # written even if this process knew it: a client sends the
            return              # text after another instance did not (or its key expired)
        try:
            await self.redis.set(f"{self.prefix}:apq:{sha}", text, ex=self.ttl_seconds)
        except (RedisError, RedisClusterException, OSError, TimeoutError) as error:
            log.warning("persisted query store failed: %s", type(error).__name__)

    async def run(self, query: Any, extensions: Any, principal: Principal | None,
                  sub_response: Response,
                  execute: Callable[[Any], Awaitable[ExecutionResult]]) -> ExecutionResult:
        """`execute` the request's document, or the refusal (its status on `sub_response`)."""
        try:
            resolved = await self.resolve(query, extensions, principal)
        except PersistedQueryError as error:
            PERSISTED.labels(error.code).inc()
            sub_response.status_code = error.status
            return error.result()
        result = await execute(resolved.query)
        if resolved.register is not None and not _request_error(result):
            await self.register(resolved.register, resolved.query)
        return result


def _request_error(result: ExecutionResult) -> bool:
    """The document did not parse, validate or pass the limits (a variable that did not
    coerce is the request's fault, not the document's)."""
    return any(error_code(e) in DOCUMENT_REFUSALS for e in result.errors or ())
