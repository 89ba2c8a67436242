"""Who owns a hold, who may change it and who sees its id and reference (used by store/,
service.reserving, resolvers/, schema/ and web.sse_format)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from domain.access import Principal, Scope
from domain.model import Reservation, StockEvent


@dataclass(frozen=True, slots=True)
class Acting:
    """Who changes a hold: `key_id` is recorded as the owner of the holds it makes (None for
    anonymous callers and ADMIN_API_KEY: such holds stay open to anyone who may reserve);
    `admin` may change every hold."""

    key_id: int | None = None
    admin: bool = False

    def may_change(self, owner: int | None) -> bool:
        return owner is None or self.admin or owner == self.key_id


ANONYMOUS = Acting()


class NotOwner(Exception):
    """The hold was made with another key; nothing changed (FORBIDDEN to the caller)."""


def acting(principal: Principal | None) -> Acting:
    if principal is None:
        return ANONYMOUS
    return Acting(principal.key_id, Scope.ADMIN in principal.scopes)


def may_see(principal: Principal | None, actor: int | None) -> bool:
    """Reservation ids and references are shown to the key that made the change and to admins."""
    if principal is None:
        return False
    return Scope.ADMIN in principal.scopes or (actor is not None and actor == principal.key_id)


def viewer(principal: Principal | None) -> str:
    """The class of callers that see the same redacted events: "admin", "key:<id>" or
    "anonymous" (every other caller)."""
    if principal is not None and Scope.ADMIN in principal.scopes:
        return "admin"
    if principal is not None and principal.key_id is not None:
        return f"key:{principal.key_id}"
    return "anonymous"


def shown_to(event: StockEvent, principal: Principal | None) -> StockEvent:
    """`event` as `principal` may see it: the same object when nothing is hidden from them."""
    if (event.reservation_id is None and event.reference is None) or may_see(
        principal, event.actor
    ):
        return event
    return replace(event, reservation_id=None, reference=None)


def reservation_for(found: Reservation, principal: Principal | None) -> Reservation | None:
    """A hold made with a key is visible to that key and to admins; an anonymous one to anyone
    who knows its id."""
    return found if found.owner is None or may_see(principal, found.owner) else None
