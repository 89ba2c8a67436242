"""ETag, 304 and Cache-Control of GraphQL answers over HTTP: web/view.py and web/fast_path.py ask
`decide` once a response is built, so both paths send the same headers.

A successful GET query (200, no `errors`) gets a strong ETag: a hash of the caller's
visibility (anonymous, or the key with its scopes and locations: a response is never shared
across keys), the media type and the body itself. So the tag changes exactly when the bytes
would: a change to one of its SKUs, a new SKU in a listing, a renamed location, a hold's
expiry alike, and nothing else. `If-None-Match` naming it answers 304 without a body (the
execution is still paid, the transfer is not). `Cache-Control: public, max-age=N` for an
anonymous caller, `private, max-age=N` with a key (N: READ_CACHE_MAX_AGE, default 0: a cache
revalidates every time), and `Vary: Authorization`. Everything else (POST, mutations, errors,
batches) is `Cache-Control: no-store`.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from domain.access import Principal
from ops.metrics import HTTP_CACHE

NO_STORE = "no-store"


@dataclass(frozen=True, slots=True)
class Caching:
    cache_control: str
    etag: str | None = None
    not_modified: bool = False

    def headers(self) -> list[tuple[bytes, bytes]]:
        found = [(b"cache-control", self.cache_control.encode())]
        if self.etag is not None:
            found.append((b"etag", self.etag.encode()))
        return found


def visibility(principal: Principal | None) -> bytes:
    """What decides what a caller may see."""
    if principal is None:
        return b"anonymous"
    scopes = ",".join(sorted(s.value for s in principal.scopes))
    locations = "*" if principal.locations is None else ",".join(sorted(principal.locations))
    return f"{principal.idempotency_scope}\n{scopes}\n{locations}".encode()


def etag(principal: Principal | None, media_type: str, body: bytes) -> str:
    digest = hashlib.blake2b(digest_size=18)
    for part in (visibility(principal), media_type.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return '"' + base64.urlsafe_b64encode(digest.digest()).decode() + '"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """RFC 9110 If-None-Match: `*` or any listed tag, compared weakly (W/ ignored)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == tag:
            return True
    return False


def control(principal: Principal | None, max_age: int) -> str:
    return f"{'public' if principal is None else 'private'}, max-age={max_age}"


def decide(*, method: str, status: int, errors: bool, principal: Principal | None,
           media_type: str, body: bytes, if_none_match: str | None, max_age: int) -> Caching:
    """How to answer, counted in inventory_http_cache_answers."""
    if method != "GET" or status != 200 or errors:
        HTTP_CACHE.labels("no_store").inc()
        return Caching(NO_STORE)
    tag = etag(principal, media_type, body)
    found = Caching(control(principal, max_age), tag, matches(if_none_match, tag))
    HTTP_CACHE.labels("not_modified" if found.not_modified else "tagged").inc()
    return found
