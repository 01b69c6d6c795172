"""Alerts: firing and clearing from rules, the lifecycle, escalation, and who gets told.

An alert lives as a row (lifecycle, assignment, escalation) and as a Smart Data Model `Alert`
entity (`urn:ngsi-ld:Alert:<id>`) written in the same transaction, so NGSI-LD clients and
subscriptions see alerts like any other context. Every change adds a timeline entry, queues
the notifications it calls for (outbox, same transaction) and, after the commit, publishes
an `alert.<what>` event on the bus (the dashboard's server-sent events listen there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Connection

from smartcity.core.context.errors import BadRequestData, Conflict, ResourceNotFound
from smartcity.core.context.jsonld import ActiveContext
from smartcity.core.context.model import parse_entity
from smartcity.core.context.service import ContextBroker
from smartcity.core.context.times import format_us, now_us
from smartcity.core.db import Database
from smartcity.core.events import Event, EventBus

from . import repository as repo

SEVERITIES = ("informational", "low", "medium", "high", "critical")
STATUSES = ("open", "acknowledged", "resolved")
CHANNELS = ("email", "webhook", "sse")
VIETNAM = timezone(timedelta(hours=7))
#: Without preferences, people are told of these severities, by e-mail when they have one.
DEFAULT_SEVERITIES = ("high", "critical")


@dataclass(frozen=True)
class Firing:
    """A rule's condition became true on an entity (from the rule engine)."""

    rule: dict[str, Any]
    subject_id: str
    subject_type: str
    title: str
    values: dict[str, Any]
    location: dict[str, Any] | None
    at_us: int


@dataclass
class Changes:
    """What a write did: events to publish once it is committed."""

    events: list[Event] = field(default_factory=list)

    def add(self, topic: str, alert: dict[str, Any], **extra: Any) -> None:
        """Note an alert event."""
        self.events.append(Event(topic, str(alert["id"]), {**alert_summary(alert), **extra}))


class AlertService:
    """Alert lifecycle over one database (see module docstring)."""

    def __init__(
        self, database: Database, broker: ContextBroker, ctx: ActiveContext, bus: EventBus
    ) -> None:
        self.database = database
        self.broker = broker
        self.ctx = ctx
        self.bus = bus

    # --- from the rule engine ------------------------------------------------------------

    def apply(self, firings: list[Firing], clearings: list[tuple[dict[str, Any], str]]) -> None:
        """Open or refresh alerts for `firings`, mark `clearings` (rule, subject) cleared."""
        if not firings and not clearings:
            return

        def job(conn: Connection) -> Changes:
            changes = Changes()
            for firing in firings:
                self._fire(conn, firing, changes)
            for rule, subject_id in clearings:
                self._clear(conn, rule, subject_id, changes)
            return changes

        self._run(job)

    def _fire(self, conn: Connection, firing: Firing, changes: Changes) -> None:
        rule, now = firing.rule, firing.at_us
        current = repo.open_alert_for(conn, rule["id"], firing.subject_id)
        if current is not None:
            refired = current["condition_state"] == "cleared"
            repo.update_alert(
                conn,
                current["id"],
                condition_state="firing",
                last_fired_at=now,
                fire_count=current["fire_count"] + 1,
                values=firing.values,
            )
            if refired:
                repo.add_timeline(
                    conn, at=now, actor="system", kind="fired", alert_id=current["id"]
                )
                changes.add("alert.fired", {**current, "condition_state": "firing"})
            return
        values = {
            "rule_id": rule["id"],
            "subject_id": firing.subject_id,
            "subject_type": firing.subject_type,
            "status": "open",
            "condition_state": "firing",
            "severity": rule["severity"],
            "category": rule["category"],
            "title": firing.title,
            "department": rule["department"],
            "assignee": rule["assignee"],
            "escalation_level": 0,
            "escalate_at": _escalate_at(rule, 0, now),
            "opened_at": now,
            "last_fired_at": now,
            "fire_count": 1,
            "values": firing.values,
            "location": firing.location,
        }
        alert = {**values, "id": repo.insert_alert(conn, values)}
        repo.add_timeline(
            conn, at=now, actor="system", kind="opened", alert_id=alert["id"], detail=firing.values
        )
        self._mirror(conn, alert)
        self._notify(conn, alert, "opened")
        changes.add("alert.opened", alert)

    def _clear(self, conn: Connection, rule: dict[str, Any], subject_id: str, ch: Changes) -> None:
        current = repo.open_alert_for(conn, rule["id"], subject_id)
        if current is None or current["condition_state"] == "cleared":
            return
        now = now_us()
        repo.update_alert(conn, current["id"], condition_state="cleared")
        repo.add_timeline(conn, at=now, actor="system", kind="cleared", alert_id=current["id"])
        alert = {**current, "condition_state": "cleared"}
        if rule["auto_resolve"]:
            alert = self._set_status(conn, alert, "resolved", "system", now)
            ch.add("alert.resolved", alert)
        else:
            ch.add("alert.cleared", alert)

    # --- by people -----------------------------------------------------------------------

    def raise_manual(self, values: dict[str, Any], actor: str) -> dict[str, Any]:
        """An alert raised by an operator (no rule): subject, severity, category, title."""
        now = now_us()

        def job(conn: Connection) -> Changes:
            row = {
                "rule_id": None,
                "assignee": None,
                "values": None,
                "status": "open",
                "condition_state": "firing",
                "escalation_level": 0,
                "escalate_at": None,
                "opened_at": now,
                "last_fired_at": now,
                "fire_count": 1,
                **values,
            }
            alert = {**row, "id": repo.insert_alert(conn, row)}
            repo.add_timeline(conn, at=now, actor=actor, kind="opened", alert_id=alert["id"])
            self._mirror(conn, alert)
            self._notify(conn, alert, "opened")
            changes = Changes()
            changes.add("alert.opened", alert)
            return changes

        return self._run(job).events[0].data

    def acknowledge(self, alert_id: int, actor: str) -> dict[str, Any]:
        """open → acknowledged (stops escalation); Conflict from any other status."""
        return self._transition(alert_id, actor, "acknowledged", allowed_from=("open",))

    def resolve(self, alert_id: int, actor: str, note: str | None = None) -> dict[str, Any]:
        """open or acknowledged → resolved."""
        return self._transition(
            alert_id, actor, "resolved", allowed_from=("open", "acknowledged"), note=note
        )

    def assign(
        self, alert_id: int, actor: str, user: str | None, department: str | None
    ) -> dict[str, Any]:
        """Give the alert to a user and/or a department; they are notified."""
        if user is None and department is None:
            raise BadRequestData("assign needs a user or a department")

        def job(conn: Connection) -> Changes:
            alert = self._open_alert(conn, alert_id)
            values = {"assignee": user or alert["assignee"]}
            values["department"] = department or alert["department"]
            repo.update_alert(conn, alert_id, **values)
            alert.update(values)
            detail = {"user": user, "department": department}
            repo.add_timeline(
                conn, at=now_us(), actor=actor, kind="assigned", alert_id=alert_id, detail=detail
            )
            self._mirror(conn, alert)
            self._notify(conn, alert, "assigned")
            changes = Changes()
            changes.add("alert.assigned", alert)
            return changes

        return self._run(job).events[0].data

    def comment(self, alert_id: int, actor: str, text: str) -> dict[str, Any]:
        """Add a comment to the alert's timeline."""
        text = text.strip()
        if not text:
            raise BadRequestData("a comment needs text")

        def job(conn: Connection) -> Changes:
            alert = self._existing(conn, alert_id)
            detail = {"text": text}
            repo.add_timeline(
                conn, at=now_us(), actor=actor, kind="comment", alert_id=alert_id, detail=detail
            )
            changes = Changes()
            changes.add("alert.commented", alert, comment=text, actor=actor)
            return changes

        return self._run(job).events[0].data

    def _transition(
        self,
        alert_id: int,
        actor: str,
        status: str,
        *,
        allowed_from: tuple[str, ...],
        note: str | None = None,
    ) -> dict[str, Any]:
        def job(conn: Connection) -> Changes:
            alert = self._existing(conn, alert_id)
            if alert["status"] not in allowed_from:
                raise Conflict(f"alert {alert_id} is {alert['status']}; cannot become {status}")
            alert = self._set_status(conn, alert, status, actor, now_us(), note)
            changes = Changes()
            changes.add(f"alert.{status}", alert)
            return changes

        return self._run(job).events[0].data

    def _set_status(
        self,
        conn: Connection,
        alert: dict[str, Any],
        status: str,
        actor: str,
        now: int,
        note: str | None = None,
    ) -> dict[str, Any]:
        values: dict[str, Any] = {"status": status, "escalate_at": None}
        if status == "acknowledged":
            values.update(acknowledged_at=now, acknowledged_by=actor)
        if status == "resolved":
            values.update(resolved_at=now, resolved_by=actor)
        repo.update_alert(conn, alert["id"], **values)
        alert = {**alert, **values}
        detail = {"note": note} if note else None
        repo.add_timeline(
            conn, at=now, actor=actor, kind=status, alert_id=alert["id"], detail=detail
        )
        self._mirror(conn, alert)
        return alert

    # --- escalation (a leader job) -------------------------------------------------------

    def escalate_due(self) -> int:
        """Escalate every open alert nobody acknowledged in time; how many."""

        def job(conn: Connection) -> Changes:
            changes, now = Changes(), now_us()
            for alert in repo.alerts_due_for_escalation(conn, now):
                self._escalate(conn, alert, now, changes)
            return changes

        return len(self._run(job).events)

    def _escalate(self, conn: Connection, alert: dict[str, Any], now: int, ch: Changes) -> None:
        rule = repo.get_rule(conn, alert["rule_id"]) if alert["rule_id"] else None
        steps = (rule or {}).get("escalation") or []
        level = alert["escalation_level"]
        if level >= len(steps):
            repo.update_alert(conn, alert["id"], escalate_at=None)
            return
        step = steps[level]
        values = {
            "escalation_level": level + 1,
            "escalate_at": _escalate_at(rule or {}, level + 1, alert["opened_at"]),
            "assignee": step.get("user") or alert["assignee"],
            "department": step.get("department") or alert["department"],
        }
        repo.update_alert(conn, alert["id"], **values)
        alert = {**alert, **values}
        detail = {"level": level + 1, "to_user": step.get("user"), "to": step.get("department")}
        repo.add_timeline(
            conn, at=now, actor="system", kind="escalated", alert_id=alert["id"], detail=detail
        )
        self._mirror(conn, alert)
        self._notify(conn, alert, "escalated")
        ch.add("alert.escalated", alert)

    # --- reading -------------------------------------------------------------------------

    def get(self, alert_id: int) -> dict[str, Any]:
        """One alert with its timeline and notifications; ResourceNotFound."""
        with self.database.read() as conn:
            alert = self._existing(conn, alert_id)
            alert["timeline"] = repo.read_timeline(conn, alert_id=alert_id)
            alert["notifications"] = repo.notifications_of_alert(conn, alert_id)
        return alert

    def department_of(self, alert_id: int) -> str | None:
        """The department an alert belongs to (for access checks); ResourceNotFound."""
        with self.database.read() as conn:
            department = self._existing(conn, alert_id)["department"]
        return str(department) if department is not None else None

    def preferences(self, user_id: int) -> dict[str, Any] | None:
        """A user's notification preferences, None when never set."""
        with self.database.read() as conn:
            return repo.get_preferences(conn, user_id)

    def set_preferences(self, user_id: int, values: dict[str, Any]) -> None:
        """Create or replace a user's notification preferences (checked by the caller)."""
        row = {**values, "user_id": user_id, "modified_at": now_us()}
        self.database.run_write(lambda conn: repo.put_preferences(conn, row))

    def list(self, **filters: Any) -> list[dict[str, Any]]:
        """Alerts, newest first (see repository.list_alerts for the filters)."""
        with self.database.read() as conn:
            return repo.list_alerts(conn, **filters)

    # --- helpers -------------------------------------------------------------------------

    def _run(self, job: Callable[[Connection], Changes]) -> Changes:
        changes = self.database.run_write(job)
        for event in changes.events:
            self.bus.publish(event)
        return changes

    def _existing(self, conn: Connection, alert_id: int) -> dict[str, Any]:
        alert = repo.get_alert(conn, alert_id)
        if alert is None:
            raise ResourceNotFound(f"alert {alert_id} not found")
        return alert

    def _open_alert(self, conn: Connection, alert_id: int) -> dict[str, Any]:
        alert = self._existing(conn, alert_id)
        if alert["status"] == "resolved":
            raise Conflict(f"alert {alert_id} is resolved")
        return alert

    def _mirror(self, conn: Connection, alert: dict[str, Any]) -> None:
        """Write the alert's Smart Data Model `Alert` entity in the same transaction."""
        entity = parse_entity(alert_entity(alert), self.ctx, now_us())
        self.broker.batch_upsert.build([entity], replace=False)(conn)

    def _notify(self, conn: Connection, alert: dict[str, Any], reason: str) -> None:
        """Queue e-mail and webhook notifications for the people concerned, by preference."""
        now = now_us()
        rows = []
        for person in repo.users_to_notify(conn, alert["department"], alert["assignee"]):
            for channel, target in deliveries(person, alert["severity"], now):
                rows.append(
                    {
                        "alert_id": alert["id"],
                        "user_id": person["id"],
                        "channel": channel,
                        "target": target,
                        "reason": reason,
                        "payload": {"reason": reason, "alert": alert_summary(alert)},
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                )
        repo.queue_notifications(conn, rows)


def deliveries(person: dict[str, Any], severity: str, now: int) -> list[tuple[str, str]]:
    """(channel, target) pairs this person wants for an alert of `severity` at `now`."""
    has_prefs = person.get("has_preferences") is not None
    severities = person["severities"] if has_prefs else DEFAULT_SEVERITIES
    if severity not in severities:
        return []
    if severity != "critical" and in_quiet_hours(
        person.get("quiet_from"), person.get("quiet_to"), now
    ):
        return []
    channels = person["channels"] if has_prefs else ["email"]
    email = person.get("preferred_email") or person.get("email")
    out = []
    if "email" in channels and email:
        out.append(("email", str(email)))
    if "webhook" in channels and person.get("webhook_url"):
        out.append(("webhook", str(person["webhook_url"])))
    return out


def in_quiet_hours(start: str | None, end: str | None, now: int) -> bool:
    """Whether `now` (µs) falls in a daily quiet period given as HH:MM in Vietnam's time."""
    if not start or not end:
        return False
    moment = datetime.fromtimestamp(now / 1e6, VIETNAM).time()
    begin, finish = time.fromisoformat(start), time.fromisoformat(end)
    if begin <= finish:
        return begin <= moment < finish
    return moment >= begin or moment < finish


def _escalate_at(rule: dict[str, Any], level: int, opened_at: int) -> int | None:
    """When the alert escalates to `level`+1, counted from its opening; None if no more."""
    steps = rule.get("escalation") or []
    if level >= len(steps):
        return None
    return opened_at + int(float(steps[level]["after_s"]) * 1_000_000)


def alert_summary(alert: dict[str, Any]) -> dict[str, Any]:
    """The alert as events, notifications and the API show it (times in ISO 8601)."""
    summary = {key: value for key, value in alert.items() if key not in ("timeline",)}
    for key in ("opened_at", "last_fired_at", "acknowledged_at", "resolved_at", "escalate_at"):
        value = alert.get(key)
        summary[key] = format_us(value) if isinstance(value, int) else None
    summary["entity_id"] = alert_entity_id(alert["id"])
    return summary


def alert_entity_id(alert_id: int) -> str:
    """The NGSI-LD id of an alert's entity."""
    return f"urn:ngsi-ld:Alert:{alert_id}"


def alert_entity(alert: dict[str, Any]) -> dict[str, Any]:
    """The Smart Data Model `Alert` entity (normalized, compact terms) of an alert row."""
    entity: dict[str, Any] = {
        "id": alert_entity_id(alert["id"]),
        "type": "Alert",
        "category": _prop(alert["category"]),
        "subCategory": _prop(alert["rule_id"] or "manual"),
        "severity": _prop(alert["severity"]),
        "description": _prop(alert["title"]),
        "alertSource": _prop(alert["subject_id"]),
        "dateIssued": _prop({"@type": "DateTime", "@value": format_us(alert["opened_at"])}),
        "status": _prop(alert["status"]),
        "conditionState": _prop(alert["condition_state"]),
        "escalationLevel": _prop(alert["escalation_level"]),
    }
    if alert.get("values"):
        entity["data"] = {"type": "JsonProperty", "json": alert["values"]}
    if alert.get("department"):
        entity["department"] = _prop(alert["department"])
    if alert.get("assignee"):
        entity["assignee"] = _prop(alert["assignee"])
    if alert.get("location"):
        entity["location"] = {"type": "GeoProperty", "value": alert["location"]}
    return entity


def _prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}
