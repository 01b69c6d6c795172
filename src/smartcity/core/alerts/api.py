"""Routes of the operations room: alerts, their live stream, rules, incidents and SOPs.

Thin routes over the services in `app.state.alerting`. Operators and admins see every
alert and incident; officers those of their departments. Errors are NGSI-LD ProblemDetails
like the rest of the platform's JSON API.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from smartcity.core.auth.deps import Permission
from smartcity.core.auth.errors import Forbidden
from smartcity.core.auth.policy import Action, Principal, Resource, may_see_record
from smartcity.core.auth.policy import visible_departments as departments_of
from smartcity.core.context.errors import BadRequestData
from smartcity.core.events import Event, EventBus

from .incidents import IncidentService
from .rules import RuleEngine, RuleService
from .service import CHANNELS, SEVERITIES, STATUSES, AlertService, alert_summary


@dataclass
class Alerting:
    """The services of core.alerts, as the app holds them."""

    alerts: AlertService
    rules: RuleService
    incidents: IncidentService
    engine: RuleEngine
    bus: EventBus


def alerting(request: Request) -> Alerting:
    """The alerting services of this app."""
    state: Alerting = request.app.state.alerting
    return state


Services = Annotated[Alerting, Depends(alerting)]
AlertReader = Annotated[Principal, Depends(Permission(Action.READ, Resource.ALERTS))]
AlertWriter = Annotated[Principal, Depends(Permission(Action.WRITE, Resource.ALERTS))]
RuleReader = Annotated[Principal, Depends(Permission(Action.READ, Resource.RULES))]
RuleWriter = Annotated[Principal, Depends(Permission(Action.WRITE, Resource.RULES))]
OwnReader = Annotated[Principal, Depends(Permission(Action.READ, Resource.OWN_ACCOUNT))]
OwnWriter = Annotated[Principal, Depends(Permission(Action.WRITE, Resource.OWN_ACCOUNT))]

router = APIRouter(prefix="/api", tags=["alerts and incidents"])
#: The caller's own notification preferences live with their account (/auth/me).
me_router = APIRouter(prefix="/auth/me", tags=["alerts and incidents"])


# --- alerts --------------------------------------------------------------------------------


class ManualAlert(BaseModel):
    """An alert an operator raises by hand."""

    subject_id: str = Field(min_length=1)
    subject_type: str = Field(min_length=1)
    title: str = Field(min_length=1, max_length=500)
    severity: str = "medium"
    category: str = "general"
    department: str | None = None
    location: dict[str, Any] | None = None


class Assignment(BaseModel):
    """To whom an alert goes."""

    user: str | None = None
    department: str | None = None


class Note(BaseModel):
    """A comment or a resolution note."""

    text: str = Field(default="", max_length=5000)


@router.get("/alerts")
def list_alerts(
    services: Services,
    principal: AlertReader,
    status: Annotated[list[str] | None, Query()] = None,
    severity: str | None = None,
    rule: str | None = None,
    subject: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    """Alerts, newest first; `status` may repeat (open, acknowledged, resolved)."""
    for value in status or []:
        if value not in STATUSES:
            raise BadRequestData(f"status must be one of {', '.join(STATUSES)}")
    rows = services.alerts.list(
        statuses=status,
        severity=severity,
        rule_id=rule,
        subject_id=subject,
        departments=departments_of(principal),
        limit=limit,
        offset=offset,
    )
    return [alert_summary(row) for row in rows]


@router.post("/alerts", status_code=201)
def raise_alert(body: ManualAlert, services: Services, principal: AlertWriter) -> dict[str, Any]:
    """Raise an alert by hand (a call from the field, a camera operator's observation)."""
    if body.severity not in SEVERITIES:
        raise BadRequestData(f"severity must be one of {', '.join(SEVERITIES)}")
    return services.alerts.raise_manual(body.model_dump(), principal.actor)


@router.get("/alerts/stream")
async def alert_stream(
    request: Request,
    services: Services,
    principal: AlertReader,
    timeout: Annotated[float | None, Query(ge=0, le=86400)] = None,
) -> StreamingResponse:
    """Server-sent events: every alert and incident change the caller may see, live."""
    departments = departments_of(principal)
    events = _stream(request, services.bus, departments, timeout)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


async def _stream(
    request: Request, bus: EventBus, departments: frozenset[str] | None, timeout: float | None
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=1000)

    def enqueue(event: Event) -> None:
        if departments is None or event.data.get("department") in departments:
            loop.call_soon_threadsafe(_put, queue, event)

    unsubscribe = [bus.subscribe("alert.", enqueue), bus.subscribe("incident.", enqueue)]
    deadline = None if timeout is None else loop.time() + timeout
    try:
        yield b"retry: 3000\nevent: ready\ndata: {}\n\n"
        while deadline is None or loop.time() < deadline:
            if await request.is_disconnected():
                break
            wait = 15.0 if deadline is None else max(0.0, min(15.0, deadline - loop.time()))
            try:
                event = await asyncio.wait_for(queue.get(), wait)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            yield _sse(event)
    finally:
        for stop in unsubscribe:
            stop()


def _put(queue: asyncio.Queue[Event], event: Event) -> None:
    if not queue.full():  # a client that stopped reading loses events, not the server memory
        queue.put_nowait(event)


def _sse(event: Event) -> bytes:
    data = orjson.dumps({"topic": event.topic, "id": event.subject, **event.data}, default=str)
    return b"event: " + event.topic.encode() + b"\ndata: " + data + b"\n\n"


@router.get("/alerts/{alert_id}")
def get_alert(alert_id: int, services: Services, principal: AlertReader) -> dict[str, Any]:
    """One alert with its timeline and the notifications it caused."""
    alert = services.alerts.get(alert_id)
    _check_visible(principal, alert["department"], f"alert {alert_id}")
    return {
        **alert_summary(alert),
        "timeline": alert["timeline"],
        "notifications": alert["notifications"],
    }


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(alert_id: int, services: Services, principal: AlertWriter) -> dict[str, Any]:
    """open → acknowledged; stops its escalation."""
    _check_alert(services, principal, alert_id)
    return services.alerts.acknowledge(alert_id, principal.actor)


@router.post("/alerts/{alert_id}/assign")
def assign(
    alert_id: int, body: Assignment, services: Services, principal: AlertWriter
) -> dict[str, Any]:
    """Give the alert to a user and/or a department."""
    _check_alert(services, principal, alert_id)
    return services.alerts.assign(alert_id, principal.actor, body.user, body.department)


@router.post("/alerts/{alert_id}/comments", status_code=201)
def comment(
    alert_id: int, body: Note, services: Services, principal: AlertWriter
) -> dict[str, Any]:
    """Add a comment to the alert's timeline."""
    _check_alert(services, principal, alert_id)
    return services.alerts.comment(alert_id, principal.actor, body.text)


@router.post("/alerts/{alert_id}/resolve")
def resolve(
    alert_id: int,
    services: Services,
    principal: AlertWriter,
    body: Annotated[Note | None, Body()] = None,
) -> dict[str, Any]:
    """open or acknowledged → resolved."""
    _check_alert(services, principal, alert_id)
    return services.alerts.resolve(alert_id, principal.actor, body.text if body else None)


def _check_alert(services: Alerting, principal: Principal, alert_id: int) -> None:
    department = services.alerts.department_of(alert_id)
    _check_visible(principal, department, f"alert {alert_id}")


def _check_visible(principal: Principal, department: str | None, what: str) -> None:
    if not may_see_record(principal, None, department):
        raise Forbidden(f"{what} belongs to another department")


# --- rules ---------------------------------------------------------------------------------


@router.get("/rules")
def list_rules(services: Services, principal: RuleReader) -> list[dict[str, Any]]:
    """Every alert rule."""
    return services.rules.list()


@router.post("/rules", status_code=201)
def create_rule(
    services: Services, principal: RuleWriter, body: Annotated[Any, Body()] = None
) -> dict[str, Any]:
    """Create a rule (see docs/alerts.md for the condition language)."""
    return services.rules.put(body, creating=True)


@router.get("/rules/{rule_id}")
def get_rule(rule_id: str, services: Services, principal: RuleReader) -> dict[str, Any]:
    """One rule."""
    return services.rules.get(rule_id)


@router.put("/rules/{rule_id}")
def replace_rule(
    rule_id: str, services: Services, principal: RuleWriter, body: Annotated[Any, Body()] = None
) -> dict[str, Any]:
    """Replace a rule made through the API."""
    if not isinstance(body, dict):
        raise BadRequestData("a rule must be an object")
    return services.rules.put({**body, "id": rule_id}, creating=False)


@router.delete("/rules/{rule_id}", status_code=204)
def delete_rule(rule_id: str, services: Services, principal: RuleWriter) -> None:
    """Remove a rule made through the API; its alerts stay."""
    services.rules.delete(rule_id)


# --- incident types and incidents ----------------------------------------------------------


class Promotion(BaseModel):
    """Alerts to promote into an incident of a type."""

    type: str = Field(min_length=1)
    alerts: list[int] = Field(min_length=1, max_length=100)
    title: str | None = Field(default=None, max_length=500)


class StepUpdate(BaseModel):
    """A checklist step's new state."""

    status: str
    note: str | None = Field(default=None, max_length=5000)


class ClosingReport(BaseModel):
    """What the incident was and what was done."""

    summary: str = Field(default="", max_length=20000)
    cause: str | None = Field(default=None, max_length=20000)
    actions: str | None = Field(default=None, max_length=20000)


@router.get("/incident-types")
def list_incident_types(services: Services, principal: AlertReader) -> list[dict[str, Any]]:
    """Incident types with their SOP checklists."""
    return services.incidents.types()


@router.get("/incident-types/{code}")
def get_incident_type(code: str, services: Services, principal: AlertReader) -> dict[str, Any]:
    """One incident type with its SOP checklist."""
    return services.incidents.get_type(code)


@router.put("/incident-types/{code}")
def put_incident_type(
    code: str, services: Services, principal: RuleWriter, body: Annotated[Any, Body()] = None
) -> dict[str, Any]:
    """Create or replace an incident type and its SOP."""
    return services.incidents.put_type(code, body)


@router.get("/incidents")
def list_incidents(
    services: Services,
    principal: AlertReader,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Incidents, newest first."""
    return services.incidents.list(status, departments_of(principal), limit)


@router.post("/incidents", status_code=201)
def promote(body: Promotion, services: Services, principal: AlertWriter) -> dict[str, Any]:
    """Promote alerts into an incident; its type's SOP becomes the checklist."""
    for alert_id in body.alerts:
        _check_alert(services, principal, alert_id)
    return services.incidents.promote(body.alerts, body.type, body.title, principal.actor)


@router.get("/incidents/{incident_id}")
def get_incident(incident_id: int, services: Services, principal: AlertReader) -> dict[str, Any]:
    """An incident with its checklist, alerts and timeline."""
    incident = services.incidents.get(incident_id)
    _check_visible(principal, incident["department"], f"incident {incident_id}")
    return incident


@router.post("/incidents/{incident_id}/steps/{position}")
def update_step(
    incident_id: int,
    position: int,
    body: StepUpdate,
    services: Services,
    principal: AlertWriter,
) -> dict[str, Any]:
    """Mark a checklist step done, skipped (with a note) or pending."""
    get_incident(incident_id, services, principal)
    return services.incidents.update_step(
        incident_id, position, body.status, body.note, principal.actor
    )


@router.post("/incidents/{incident_id}/comments", status_code=201)
def comment_incident(
    incident_id: int, body: Note, services: Services, principal: AlertWriter
) -> dict[str, Any]:
    """Add a note to the incident's timeline."""
    get_incident(incident_id, services, principal)
    return services.incidents.comment(incident_id, body.text, principal.actor)


@router.post("/incidents/{incident_id}/close")
def close_incident(
    incident_id: int, body: ClosingReport, services: Services, principal: AlertWriter
) -> dict[str, Any]:
    """Close with a report; every step must be done or skipped; its alerts are resolved."""
    get_incident(incident_id, services, principal)
    return services.incidents.close(incident_id, body.model_dump(), principal.actor)


@router.get("/incidents/{incident_id}/report")
def incident_report(incident_id: int, services: Services, principal: AlertReader) -> dict[str, Any]:
    """The closing report: summary, checklist as worked, alerts and timeline."""
    get_incident(incident_id, services, principal)
    return services.incidents.report(incident_id)


# --- notification preferences --------------------------------------------------------------


class Preferences(BaseModel):
    """Which alerts reach me, how, and when not (quiet hours; critical ones still do)."""

    severities: list[str] = ["high", "critical"]
    channels: list[str] = ["email", "sse"]
    email: str | None = Field(default=None, max_length=320)
    webhook_url: str | None = Field(default=None, max_length=2000)
    quiet_from: str | None = None
    quiet_to: str | None = None


@me_router.get("/notification-preferences")
def get_preferences(services: Services, principal: OwnReader) -> dict[str, Any]:
    """The caller's notification preferences (defaults when never set)."""
    stored = services.alerts.preferences(_user_id(principal))
    if stored is None:
        return {**Preferences().model_dump(), "default": True}
    return {k: v for k, v in stored.items() if k not in ("user_id", "modified_at")}


@me_router.put("/notification-preferences")
def put_preferences(body: Preferences, services: Services, principal: OwnWriter) -> dict[str, Any]:
    """Set the caller's notification preferences."""
    values = _checked(body)
    services.alerts.set_preferences(_user_id(principal), values)
    return values


def _user_id(principal: Principal) -> int:
    if principal.user_id is None:
        raise BadRequestData("notification preferences belong to a user account")
    return principal.user_id


def _checked(body: Preferences) -> dict[str, Any]:
    if not set(body.severities) <= set(SEVERITIES):
        raise BadRequestData(f"severities must be among {', '.join(SEVERITIES)}")
    if not set(body.channels) <= set(CHANNELS):
        raise BadRequestData(f"channels must be among {', '.join(CHANNELS)}")
    if body.webhook_url and not re.match(r"^https?://[^\s/]+", body.webhook_url):
        raise BadRequestData("webhook_url must be an http(s) URL")
    if body.email and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", body.email):
        raise BadRequestData("email is not an e-mail address")
    if (body.quiet_from is None) != (body.quiet_to is None):
        raise BadRequestData("quiet hours need both quiet_from and quiet_to")
    for value in (body.quiet_from, body.quiet_to):
        if value is not None:
            try:
                time.fromisoformat(value)
            except ValueError:
                raise BadRequestData("quiet hours are HH:MM") from None
    return body.model_dump()
