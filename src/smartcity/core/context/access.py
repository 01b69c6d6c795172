"""What a caller may do with NGSI-LD entities: the policy layer applied to entity types.

Route dependencies decide "may this caller read/write context at all"; this module narrows
it by entity type: personal types (Settings.personal_entity_types) need the personal-context
permission, officers write only their departments' types, scoped API keys only theirs.
Types are matched by their local name (the part after the last '/', '#' or ':'), so
`Person`, `https://schema.org/Person` and `schema:Person` are the same type to the policy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from fastapi import Request

from smartcity.core.auth.deps import auth_state, mark_personal_read
from smartcity.core.auth.errors import Forbidden, Unauthenticated
from smartcity.core.auth.policy import Action, Principal, Resource, allowed

_LOCAL = re.compile(r"[^/#:]*$")


def local_name(entity_type: str) -> str:
    """`https://smartdatamodels.org/dataModel.Environment/AirQualityObserved` → the last part."""
    match = _LOCAL.search(entity_type)
    return match.group(0) if match else entity_type


@dataclass(frozen=True)
class ContextAccess:
    """One caller's entity-type rights for one request."""

    principal: Principal
    personal_types: frozenset[str]

    def _narrowed(self) -> frozenset[str] | None:
        scope = self.principal.entity_types
        return None if scope is None else frozenset(local_name(t) for t in scope)

    def _personal(self, types: Iterable[str]) -> bool:
        return any(local_name(t) in self.personal_types for t in types)

    def _in_scope(self, types: Iterable[str]) -> bool:
        scope = self._narrowed()
        return scope is None or any(local_name(t) in scope for t in types)

    def check_write(self, types: Iterable[str]) -> None:
        """403 unless the caller may write entities of these types."""
        types = list(types)
        if self._personal(types) and not allowed(
            self.principal, Action.WRITE, Resource.PERSONAL_CONTEXT
        ):
            raise Forbidden(f"{', '.join(map(local_name, types))} is personal data")
        if not self._in_scope(types):
            raise Forbidden(
                f"{self.principal.actor} may not write {', '.join(map(local_name, types))}"
            )

    def may_write(self, types: Iterable[str]) -> bool:
        """Whether the caller may write entities of these types (check_write as a test)."""
        try:
            self.check_write(types)
        except Forbidden:
            return False
        return True

    @property
    def needs_type_lookup(self) -> bool:
        """Whether writes by id must look up the entity's type first (narrowed callers)."""
        unrestricted = allowed(self.principal, Action.WRITE, Resource.PERSONAL_CONTEXT)
        return not unrestricted or self.principal.entity_types is not None

    def may_read(self, types: Iterable[str]) -> bool:
        """Whether the caller may read an entity of these types."""
        types = list(types)
        if not self._personal(types):
            return True
        return allowed(self.principal, Action.READ, Resource.PERSONAL_CONTEXT) and self._in_scope(
            types
        )

    def check_read(self, types: Iterable[str]) -> None:
        """401/403 unless the caller may read an entity of these types."""
        if self.may_read(types):
            return
        if not self.principal.authenticated:
            raise Unauthenticated("sign in to read personal data")
        raise Forbidden("personal data outside your role or departments")

    def hidden_type_names(self) -> list[str]:
        """Local names of the personal types this caller may not read (excluded in SQL)."""
        return sorted(t for t in self.personal_types if not self.may_read([t]))

    def is_personal(self, types: Iterable[str]) -> bool:
        """Whether any of the types is personal."""
        return self._personal(types)


def context_access(request: Request) -> ContextAccess:
    """The entity-type rights of this request's caller (after its route's Permission ran)."""
    state = auth_state(request)
    principal: Principal = request.state.principal
    return ContextAccess(principal, state.personal_entity_types)


def audit_personal(
    request: Request, access: ContextAccess, found: Iterable[tuple[str, list[str]]]
) -> None:
    """Note the personal entities a read returned, so the audit log records them."""
    ids = [entity_id for entity_id, types in found if access.is_personal(types)]
    if ids:
        shown = ", ".join(ids[:20]) + (f" … (+{len(ids) - 20})" if len(ids) > 20 else "")
        mark_personal_read(request, f"personal entities read: {shown}")
