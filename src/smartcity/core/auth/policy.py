"""The one policy layer: permission = action × resource kind, narrowed by department and owner.

Routes declare what they need with `Permission(action, resource)` (see deps.py); the table
below says which role holds which permission, and `Principal` narrows entity-type access by
the departments of an officer or the scope of an API key.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """Who someone is to the platform."""

    ADMIN = "admin"
    OPERATOR = "operator"
    OFFICER = "officer"
    CITIZEN = "citizen"
    INTEGRATOR = "integrator"
    # Not assignable: the role of a request without credentials.
    ANONYMOUS = "anonymous"


ASSIGNABLE_ROLES = tuple(r for r in Role if r is not Role.ANONYMOUS)


class Action(StrEnum):
    """What a request does to a resource."""

    READ = "read"
    WRITE = "write"


class Resource(StrEnum):
    """Kinds of resources the policy distinguishes."""

    # Liveness, the API description: open to all.
    PUBLIC = "public"
    # Signing in: the one write an anonymous caller may make.
    SIGN_IN = "sign_in"
    # NGSI-LD context that is not personal (sensor data, assets, alerts).
    CONTEXT = "context"
    # NGSI-LD entities of the personal types (see Settings.personal_entity_types).
    PERSONAL_CONTEXT = "personal_context"
    # The caller's own account: profile, password, sign-out, data export, erasure request.
    OWN_ACCOUNT = "own_account"
    USERS = "users"
    DEPARTMENTS = "departments"
    API_KEYS = "api_keys"
    AUDIT = "audit"
    # Personal-data requests of all citizens (the data-protection officer's queue).
    DATA_REQUESTS = "data_requests"
    # IoT provisioning: service groups, devices, their commands log and dead letters.
    DEVICES = "devices"
    # Measures sent by devices: the credential is the device group's apikey, checked by
    # the ingest path, so the policy lets every caller through (like SIGN_IN).
    TELEMETRY = "telemetry"
    # Prometheus metrics of the platform.
    METRICS = "metrics"
    # Alerts and incidents: the operations room's work (officers: their departments').
    ALERTS = "alerts"
    # Alert rules and the incident types with their SOP checklists.
    RULES = "rules"
    # Control of city equipment by the domains' automation: modes, overrides, manual commands.
    CONTROL = "control"
    # Filing a citizen report (Open311 POST): open to everyone, signed in or not; the
    # domain limits the rate per device and checks an Open311 api_key when one is given.
    CITIZEN_REPORTS = "citizen_reports"
    # The departments' work on citizen reports (queues, assignment, closing, moderation).
    CASEWORK = "casework"
    # The catalogue of what citizens can report, its routing and deadlines.
    SERVICE_CATALOGUE = "service_catalogue"


R, W = Action.READ, Action.WRITE

#: The policy table. Narrowing (departments, key scope, ownership) applies on top of it.
GRANTS: dict[Role, dict[Resource, frozenset[Action]]] = {
    Role.ADMIN: {resource: frozenset({R, W}) for resource in Resource},
    Role.OPERATOR: {
        Resource.PUBLIC: frozenset({R}),
        Resource.CONTEXT: frozenset({R, W}),
        Resource.PERSONAL_CONTEXT: frozenset({R}),
        Resource.OWN_ACCOUNT: frozenset({R, W}),
        Resource.DEPARTMENTS: frozenset({R}),
        Resource.DEVICES: frozenset({R}),
        Resource.METRICS: frozenset({R}),
        Resource.ALERTS: frozenset({R, W}),
        Resource.RULES: frozenset({R, W}),
        Resource.CONTROL: frozenset({R, W}),
        Resource.CASEWORK: frozenset({R, W}),
    },
    Role.OFFICER: {
        Resource.PUBLIC: frozenset({R}),
        Resource.CONTEXT: frozenset({R, W}),
        Resource.PERSONAL_CONTEXT: frozenset({R, W}),
        Resource.OWN_ACCOUNT: frozenset({R, W}),
        Resource.DEPARTMENTS: frozenset({R}),
        Resource.DEVICES: frozenset({R}),
        Resource.ALERTS: frozenset({R, W}),
        Resource.RULES: frozenset({R}),
        Resource.CONTROL: frozenset({R, W}),
        Resource.CASEWORK: frozenset({R, W}),
    },
    Role.CITIZEN: {
        Resource.PUBLIC: frozenset({R}),
        Resource.CONTEXT: frozenset({R}),
        Resource.OWN_ACCOUNT: frozenset({R, W}),
    },
    Role.INTEGRATOR: {
        Resource.PUBLIC: frozenset({R}),
        Resource.CONTEXT: frozenset({R, W}),
        Resource.OWN_ACCOUNT: frozenset({R, W}),
        Resource.DEVICES: frozenset({R, W}),
    },
    Role.ANONYMOUS: {
        Resource.PUBLIC: frozenset({R}),
    },
}


@dataclass(frozen=True)
class Principal:
    """The caller of one request, as far as the policy is concerned."""

    role: Role
    user_id: int | None = None
    username: str | None = None
    departments: frozenset[str] = frozenset()
    # Entity types this caller may touch, when narrower than its role (officers, scoped keys).
    entity_types: frozenset[str] | None = None
    # How the caller proved who it is: "token", "cookie", "apikey" or "" (anonymous).
    via: str = ""
    session_id: str | None = None
    key_id: str | None = None
    csrf_token: str | None = field(default=None, repr=False)

    @property
    def authenticated(self) -> bool:
        """Whether the caller presented valid credentials."""
        return self.role is not Role.ANONYMOUS

    @property
    def actor(self) -> str:
        """The name the audit log records."""
        if self.key_id:
            return f"key:{self.key_id}"
        return self.username or "anonymous"

    def may_touch_type(self, types: Iterable[str]) -> bool:
        """Whether any of an entity's types is within this caller's narrowing."""
        if self.entity_types is None:
            return True
        return any(t in self.entity_types for t in types)


ANONYMOUS = Principal(role=Role.ANONYMOUS)

# Everyone, signed in or not, may sign in, send device measures and file a citizen report.
for _grants in GRANTS.values():
    _grants.setdefault(Resource.SIGN_IN, frozenset({W}))
    _grants.setdefault(Resource.TELEMETRY, frozenset({W}))
    _grants.setdefault(Resource.CITIZEN_REPORTS, frozenset({W}))


def allowed(principal: Principal, action: Action, resource: Resource) -> bool:
    """Whether the principal's role holds `action` on `resource` (before narrowing)."""
    return action in GRANTS[principal.role].get(resource, frozenset())


def may_read_context_anonymously(public_context_read: bool, resource: Resource) -> bool:
    """Public sensor context may be open to anonymous reads by configuration; personal never."""
    return public_context_read and resource is Resource.CONTEXT


def narrowed_types(
    role: Role, department_types: Iterable[str] | None, key_types: Iterable[str] | None
) -> frozenset[str] | None:
    """The entity types a caller may touch: officers by department, keys by their scope."""
    narrowed: frozenset[str] | None = None
    if role is Role.OFFICER:
        narrowed = frozenset(department_types or ())
    if key_types is not None:
        scope = frozenset(key_types)
        narrowed = scope if narrowed is None else narrowed & scope
    return narrowed


def visible_departments(principal: Principal) -> frozenset[str] | None:
    """Whose work queues the caller sees: None for all, else these department codes.

    Admins and operators see every department; officers their own; anyone else none.
    Domains filter their queues with this (e.g. citizen reports routed to a department).
    """
    if principal.role in (Role.ADMIN, Role.OPERATOR):
        return None
    if principal.role is Role.OFFICER:
        return principal.departments
    return frozenset()


def may_see_record(principal: Principal, owner_id: int | None, department: str | None) -> bool:
    """Whether the caller may see a record owned by a user and routed to a department.

    Citizens see only their own records; officers their departments'; admins and operators all.
    """
    if principal.user_id is not None and owner_id == principal.user_id:
        return True
    departments = visible_departments(principal)
    if departments is None:
        return True
    return department is not None and department in departments
