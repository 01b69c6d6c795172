"""The authorization matrix: every caller × every route → 2xx / 401 / 403, from the route table.

Each route declares a `Permission(action, resource)`; the grants below (written out here,
independently of the code's policy table) say which role holds which; the test sends every
route to every caller and checks the running app agrees. A route without a Permission fails
`test_every_route_declares_a_policy`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.testclient import TestClient

from smartcity.app import create_app
from smartcity.config import Settings
from smartcity.core.auth.deps import Permission
from smartcity.core.auth.policy import GRANTS, Action, Resource, Role
from smartcity.core.db import Database
from tests.core.auth.principals import Callers, make_callers

#: Framework pages that describe the API; they carry no data.
DOCUMENTATION_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}

#: Values for path parameters: ids that do not exist, so allowed writes change nothing.
PATH_VALUES = {
    "entity_id": "urn:ngsi-ld:MatrixProbe:none",
    "attr_id": "probe",
    "type_name": "MatrixProbe",
    "attr_name": "probe",
    "user_id": "999999",
    "key_id": "nokey",
    "code": "PROBE",
    "request_id": "999999",
    "resource": "csourceRegistrations",
    "device_id": "matrix-probe-none",
    "letter_id": "999999",
    "subscription_id": "urn:ngsi-ld:Subscription:none",
    "alert_id": "999999",
    "rule_id": "matrix-probe-none",
    "incident_id": "999999",
    "position": "1",
    "key": "air",
    "path": "ioc.css",
    "file_format": "csv",
    "gate_id": "urn:ngsi-ld:SluiceGate:matrix-probe-none",
    "fmt": "json",
    "service_code": "matrix-probe-none",
    "service_request_id": "999999",
    "token": "matrix-probe-none",
    "media_id": "999999",
    "report_id": "999999",
    "size": "192",
}

#: Query strings some collection routes need to answer 200.
SAMPLE_QUERIES = {
    "/ngsi-ld/v1/entities": "type=MatrixProbe",
    "/ngsi-ld/v1/temporal/entities": "type=MatrixProbe",
    "/api/alerts/stream": "timeout=0",
    "/api/citizen/nearby": "service_code=pothole&lat=10.03&long=105.78",
}

R, W = "read", "write"
#: Who may do what, as the city expects it (the spec this test holds the code to).
EXPECTED_GRANTS: dict[Role, dict[str, set[str]]] = {
    Role.ADMIN: {resource.value: {R, W} for resource in Resource},
    Role.OPERATOR: {
        "public": {R},
        "sign_in": {W},
        "context": {R, W},
        "personal_context": {R},
        "own_account": {R, W},
        "departments": {R},
        "devices": {R},
        "metrics": {R},
        "telemetry": {W},
        "alerts": {R, W},
        "rules": {R, W},
        "control": {R, W},
        "citizen_reports": {W},
        "casework": {R, W},
    },
    Role.OFFICER: {
        "public": {R},
        "sign_in": {W},
        "context": {R, W},
        "personal_context": {R, W},
        "own_account": {R, W},
        "departments": {R},
        "devices": {R},
        "telemetry": {W},
        "alerts": {R, W},
        "rules": {R},
        "control": {R, W},
        "citizen_reports": {W},
        "casework": {R, W},
    },
    Role.CITIZEN: {
        "public": {R},
        "sign_in": {W},
        "telemetry": {W},
        "citizen_reports": {W},
        "context": {R},
        "own_account": {R, W},
    },
    Role.INTEGRATOR: {
        "public": {R},
        "sign_in": {W},
        "telemetry": {W},
        "citizen_reports": {W},
        "context": {R, W},
        "own_account": {R, W},
        "devices": {R, W},
    },
    # Devices send measures with their group's apikey, which the ingest path checks.
    Role.ANONYMOUS: {"public": {R}, "sign_in": {W}, "telemetry": {W}, "citizen_reports": {W}},
}

CALLER_ROLES = {
    "anonymous": Role.ANONYMOUS,
    "admin": Role.ADMIN,
    "operator": Role.OPERATOR,
    "officer": Role.OFFICER,
    "citizen": Role.CITIZEN,
    "integrator": Role.INTEGRATOR,
    "apikey": Role.INTEGRATOR,
}


def api_routes(app: FastAPI) -> Iterator[RouteContext]:
    """Every API route as mounted, with the dependencies of the routers it came through."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def permissions_of(route: RouteContext) -> list[Permission]:
    """Every Permission dependency of a route (route, router and parameter level)."""
    found: list[Permission] = []
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, Permission):
            found.append(dependant.call)
        stack.extend(dependant.dependencies)
    return found


def routes_without_policy(app: FastAPI) -> list[str]:
    """Routes that declare no Permission (documentation pages excepted)."""
    missing = []
    for context in iter_route_contexts(app.routes):
        path = context.path
        if isinstance(context.original_route, APIRoute):
            if not permissions_of(context):
                missing.append(f"{sorted(context.methods or ())} {path}")
        elif path not in DOCUMENTATION_PATHS:
            missing.append(f"{type(context.original_route).__name__} {path}")
    return missing


@dataclass(frozen=True)
class Probe:
    """One request of the matrix."""

    method: str
    path: str
    route_path: str
    permission: Permission


def probes(app: FastAPI) -> Iterator[Probe]:
    """One request per route and method, path parameters filled with harmless values."""
    for route in api_routes(app):
        (permission,) = permissions_of(route)
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PATH_VALUES[m.group(1)], route.path)
        query = SAMPLE_QUERIES.get(route.path)
        for method in sorted(set(route.methods or ()) - {"HEAD"}):
            yield Probe(method, f"{path}?{query}" if query else path, route.path, permission)


def expected(probe: Probe, caller: str, public_read: bool) -> str:
    """ "ok" (passes the policy), "401" or "403", from EXPECTED_GRANTS."""
    role = CALLER_ROLES[caller]
    action, resource = probe.permission.action.value, probe.permission.resource.value
    granted = action in EXPECTED_GRANTS[role].get(resource, set())
    if public_read and (action, resource) == (R, "context"):
        granted = True
    if granted:
        return "ok"
    return "401" if role is Role.ANONYMOUS else "403"


def test_policy_table_matches_the_expected_grants() -> None:
    """The code's policy table grants exactly what EXPECTED_GRANTS says."""
    actual = {
        role: {res.value: {a.value for a in acts} for res, acts in grants.items() if acts}
        for role, grants in GRANTS.items()
    }
    assert actual == EXPECTED_GRANTS
    assert set(Action) == {Action.READ, Action.WRITE}


def send(client: TestClient, probe: Probe, headers: dict[str, str]) -> Any:
    body: dict[str, Any] = {}
    if probe.method in ("POST", "PUT", "PATCH"):
        body = {"content": b"{}", "headers": {**headers, "Content-Type": "application/json"}}
    else:
        body = {"headers": headers}
    return client.request(probe.method, probe.path, **body)


def test_every_route_declares_a_policy(database: Database, app_settings: Settings) -> None:
    """No route may reach the app without a Permission (documentation pages excepted)."""
    assert routes_without_policy(create_app(app_settings, database=database)) == []


def test_a_route_without_policy_is_caught(database: Database, app_settings: Settings) -> None:
    """The check above really fails for a route added without a Permission."""
    app = create_app(app_settings, database=database)

    @app.get("/api/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    assert routes_without_policy(app) == ["['GET'] /api/forgotten"]


@pytest.mark.parametrize("public_read", [True, False], ids=["public-read", "closed-read"])
def test_authorization_matrix(
    database: Database, app_settings: Settings, public_read: bool
) -> None:
    """Each caller gets exactly what the policy table says on every route."""
    settings = app_settings.model_copy(update={"public_context_read": public_read})
    app = create_app(settings, database=database)
    callers: Callers = make_callers(app, ("admin", "operator", "officer", "citizen", "integrator"))
    mismatches = []
    with TestClient(app) as client:
        for probe in probes(app):
            for caller in CALLER_ROLES:
                want = expected(probe, caller, public_read)
                response = send(client, probe, callers.headers(caller))
                got = _outcome(response.status_code, want, probe, caller)
                if got != want:
                    mismatches.append(
                        f"{caller:<10} {probe.method:<6} {probe.path}: want {want}, "
                        f"got {response.status_code} {response.text[:120]}"
                    )
    assert not mismatches, "\n".join(mismatches)


def _outcome(status: int, want: str, probe: Probe, caller: str) -> str:
    """Map a status to the matrix's vocabulary; an allowed harmless GET must answer 2xx."""
    if status in (401, 403):
        return str(status)
    if want == "ok" and _must_succeed(probe, caller) and not 200 <= status < 300:
        return f"{status} (a harmless allowed GET must succeed)"
    return "ok"


def _must_succeed(probe: Probe, caller: str) -> bool:
    """Allowed GETs without path parameters answer 2xx (API keys have no own account).

    Device-facing routes (telemetry) need a device's own apikey and id, which probes lack.
    """
    if probe.method != "GET" or "{" in probe.route_path:
        return False
    if probe.permission.resource is Resource.TELEMETRY:
        return False
    return not (caller == "apikey" and probe.route_path.startswith("/auth/me/"))
