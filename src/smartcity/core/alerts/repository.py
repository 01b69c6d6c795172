"""The SQL of core.alerts: rules, alerts, timeline, incidents, preferences, notifications."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from smartcity.core.auth.tables import user_departments, users

from .tables import (
    alert_notifications,
    alerts,
    incident_steps,
    incident_types,
    incidents,
    notification_preferences,
    rules,
    timeline,
)


def _plain(row: Any) -> dict[str, Any]:
    """A row as a dict with plain str keys (SQLAlchemy's quoted_name keys trip orjson)."""
    return {str(key): value for key, value in row._mapping.items()}


# --- rules ---------------------------------------------------------------------------------


def list_rules(conn: Connection, enabled_only: bool = False) -> list[dict[str, Any]]:
    """Every rule, by id."""
    stmt = select(rules).order_by(rules.c.id)
    if enabled_only:
        stmt = stmt.where(rules.c.enabled.is_(True))
    return [_plain(row) for row in conn.execute(stmt)]


def get_rule(conn: Connection, rule_id: str) -> dict[str, Any] | None:
    """One rule, if it exists."""
    row = conn.execute(select(rules).where(rules.c.id == rule_id)).first()
    return _plain(row) if row else None


def put_rule(conn: Connection, values: dict[str, Any], exists: bool) -> None:
    """Insert or replace one rule."""
    if exists:
        conn.execute(update(rules).where(rules.c.id == values["id"]).values(**values))
    else:
        conn.execute(insert(rules).values(**values))


def delete_rule(conn: Connection, rule_id: str) -> bool:
    """Remove a rule; whether it existed."""
    return bool(conn.execute(delete(rules).where(rules.c.id == rule_id)).rowcount)


def rules_changed_at(conn: Connection) -> tuple[int, int]:
    """(how many rules, newest modification): cheap change detection for other processes."""
    row = conn.execute(select(func.count(), func.max(rules.c.modified_at))).one()
    return int(row[0]), int(row[1] or 0)


# --- alerts --------------------------------------------------------------------------------


def open_alert_for(conn: Connection, rule_id: str, subject_id: str) -> dict[str, Any] | None:
    """The not-resolved alert of a rule on an entity, if any."""
    row = conn.execute(
        select(alerts).where(
            alerts.c.rule_id == rule_id,
            alerts.c.subject_id == subject_id,
            alerts.c.status != "resolved",
        )
    ).first()
    return _plain(row) if row else None


def get_alert(conn: Connection, alert_id: int) -> dict[str, Any] | None:
    """One alert, if it exists."""
    row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
    return _plain(row) if row else None


def insert_alert(conn: Connection, values: dict[str, Any]) -> int:
    """Store a new alert; its id."""
    return int(conn.execute(insert(alerts).values(**values).returning(alerts.c.id)).scalar_one())


def update_alert(conn: Connection, alert_id: int, **values: Any) -> None:
    """Change columns of one alert."""
    conn.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))


def list_alerts(
    conn: Connection,
    *,
    statuses: Sequence[str] | None = None,
    severity: str | None = None,
    rule_id: str | None = None,
    subject_id: str | None = None,
    departments: Iterable[str] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Alerts, newest first, filtered; `departments` None means every department."""
    stmt = select(alerts).order_by(alerts.c.id.desc()).limit(limit).offset(offset)
    if statuses:
        stmt = stmt.where(alerts.c.status.in_(list(statuses)))
    if severity:
        stmt = stmt.where(alerts.c.severity == severity)
    if rule_id:
        stmt = stmt.where(alerts.c.rule_id == rule_id)
    if subject_id:
        stmt = stmt.where(alerts.c.subject_id == subject_id)
    if departments is not None:
        stmt = stmt.where(alerts.c.department.in_(list(departments)))
    return [_plain(row) for row in conn.execute(stmt)]


def alerts_due_for_escalation(conn: Connection, now: int) -> list[dict[str, Any]]:
    """Open (unacknowledged) alerts whose escalation time has come."""
    stmt = (
        select(alerts)
        .where(alerts.c.status == "open", alerts.c.escalate_at.is_not(None))
        .where(alerts.c.escalate_at <= now)
        .order_by(alerts.c.escalate_at)
        .limit(500)
    )
    return [_plain(row) for row in conn.execute(stmt)]


def alerts_of_incident(conn: Connection, incident_id: int) -> list[dict[str, Any]]:
    """The alerts promoted into an incident."""
    stmt = select(alerts).where(alerts.c.incident_id == incident_id).order_by(alerts.c.id)
    return [_plain(row) for row in conn.execute(stmt)]


# --- timeline ------------------------------------------------------------------------------


def add_timeline(
    conn: Connection,
    *,
    at: int,
    actor: str,
    kind: str,
    detail: dict[str, Any] | None = None,
    alert_id: int | None = None,
    incident_id: int | None = None,
) -> None:
    """Record one thing done to an alert or incident."""
    conn.execute(
        insert(timeline).values(
            alert_id=alert_id,
            incident_id=incident_id,
            at=at,
            actor=actor,
            kind=kind,
            detail=detail,
        )
    )


def read_timeline(
    conn: Connection, *, alert_id: int | None = None, incident_id: int | None = None
) -> list[dict[str, Any]]:
    """The timeline of an alert or an incident, oldest first."""
    stmt = select(timeline).order_by(timeline.c.at, timeline.c.id)
    if alert_id is not None:
        stmt = stmt.where(timeline.c.alert_id == alert_id)
    if incident_id is not None:
        stmt = stmt.where(timeline.c.incident_id == incident_id)
    return [_plain(row) for row in conn.execute(stmt)]


# --- incidents -----------------------------------------------------------------------------


def list_incident_types(conn: Connection) -> list[dict[str, Any]]:
    """Every incident type with its SOP, by code."""
    rows = conn.execute(select(incident_types).order_by(incident_types.c.code))
    return [_plain(row) for row in rows]


def get_incident_type(conn: Connection, code: str) -> dict[str, Any] | None:
    """One incident type, if it exists."""
    row = conn.execute(select(incident_types).where(incident_types.c.code == code)).first()
    return _plain(row) if row else None


def put_incident_type(conn: Connection, values: dict[str, Any], exists: bool) -> None:
    """Insert or replace an incident type."""
    if exists:
        stmt = update(incident_types).where(incident_types.c.code == values["code"])
        conn.execute(stmt.values(**values))
    else:
        conn.execute(insert(incident_types).values(**values))


def insert_incident(conn: Connection, values: dict[str, Any]) -> int:
    """Store a new incident; its id."""
    stmt = insert(incidents).values(**values).returning(incidents.c.id)
    return int(conn.execute(stmt).scalar_one())


def get_incident(conn: Connection, incident_id: int) -> dict[str, Any] | None:
    """One incident, if it exists."""
    row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
    return _plain(row) if row else None


def update_incident(conn: Connection, incident_id: int, **values: Any) -> None:
    """Change columns of one incident."""
    conn.execute(update(incidents).where(incidents.c.id == incident_id).values(**values))


def list_incidents(
    conn: Connection, status: str | None, departments: Iterable[str] | None, limit: int
) -> list[dict[str, Any]]:
    """Incidents, newest first."""
    stmt = select(incidents).order_by(incidents.c.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(incidents.c.status == status)
    if departments is not None:
        stmt = stmt.where(incidents.c.department.in_(list(departments)))
    return [_plain(row) for row in conn.execute(stmt)]


def insert_steps(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Store the SOP checklist of a new incident."""
    if rows:
        conn.execute(insert(incident_steps), rows)


def read_steps(conn: Connection, incident_id: int) -> list[dict[str, Any]]:
    """The checklist of an incident, in order."""
    stmt = (
        select(incident_steps)
        .where(incident_steps.c.incident_id == incident_id)
        .order_by(incident_steps.c.position)
    )
    return [_plain(row) for row in conn.execute(stmt)]


def update_step(conn: Connection, incident_id: int, position: int, **values: Any) -> bool:
    """Change one checklist step; whether it exists."""
    stmt = update(incident_steps).where(
        incident_steps.c.incident_id == incident_id, incident_steps.c.position == position
    )
    return bool(conn.execute(stmt.values(**values)).rowcount)


# --- people and their notification preferences ---------------------------------------------


def users_to_notify(
    conn: Connection, department: str | None, assignee: str | None
) -> list[dict[str, Any]]:
    """Active users concerned by an alert: its assignee, its department's members, and
    operators and admins who chose to be notified (they have a preferences row)."""
    pref = notification_preferences
    stmt = (
        select(
            users.c.id,
            users.c.username,
            users.c.email,
            users.c.role,
            pref.c.user_id.label("has_preferences"),
            pref.c.severities,
            pref.c.channels,
            pref.c.email.label("preferred_email"),
            pref.c.webhook_url,
            pref.c.quiet_from,
            pref.c.quiet_to,
        )
        .select_from(users.outerjoin(pref, pref.c.user_id == users.c.id))
        .where(users.c.active.is_(True))
    )
    members = select(user_departments.c.user_id).where(
        user_departments.c.department_code == (department or "")
    )
    wanted = (
        users.c.id.in_(members)
        | (users.c.username == (assignee or ""))
        | (users.c.role.in_(["operator", "admin"]) & pref.c.user_id.is_not(None))
    )
    return [_plain(row) for row in conn.execute(stmt.where(wanted))]


def get_preferences(conn: Connection, user_id: int) -> dict[str, Any] | None:
    """A user's notification preferences, if they set any."""
    stmt = select(notification_preferences).where(notification_preferences.c.user_id == user_id)
    row = conn.execute(stmt).first()
    return _plain(row) if row else None


def put_preferences(conn: Connection, values: dict[str, Any]) -> None:
    """Create or replace a user's notification preferences."""
    pref = notification_preferences
    if get_preferences(conn, values["user_id"]) is None:
        conn.execute(insert(pref).values(**values))
    else:
        conn.execute(update(pref).where(pref.c.user_id == values["user_id"]).values(**values))


# --- notification outbox -------------------------------------------------------------------


def queue_notifications(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Put notifications in the outbox (same transaction as the alert change)."""
    if rows:
        conn.execute(insert(alert_notifications), rows)


def due_notifications(conn: Connection, now: int, limit: int) -> list[dict[str, Any]]:
    """Pending notifications whose time has come, oldest first."""
    stmt = (
        select(alert_notifications)
        .where(alert_notifications.c.status == "pending")
        .where(alert_notifications.c.next_attempt_at <= now)
        .order_by(alert_notifications.c.id)
        .limit(limit)
    )
    return [_plain(row) for row in conn.execute(stmt)]


def mark_notification(conn: Connection, notification_id: int, **values: Any) -> None:
    """Record a delivery attempt's outcome."""
    stmt = update(alert_notifications).where(alert_notifications.c.id == notification_id)
    conn.execute(stmt.values(**values))


def notifications_of_alert(conn: Connection, alert_id: int) -> list[dict[str, Any]]:
    """Who was (or will be) told about an alert, and how it went."""
    stmt = (
        select(alert_notifications)
        .where(alert_notifications.c.alert_id == alert_id)
        .order_by(alert_notifications.c.id)
    )
    return [_plain(row) for row in conn.execute(stmt)]
