"""Tables of rules, alerts, incidents with their SOPs, and alert notifications."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, Table, Text, text

from smartcity.core.db import BigPk, Json

metadata = MetaData()

# A rule: which entities it watches, its condition (conditions.py), what an alert says and
# who answers it. `source` is "api", "file" (the data dir's rules/*.toml) or "domain".
rules = Table(
    "alert_rules",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("entity_type", Text, nullable=False),
    Column("id_pattern", Text, nullable=True),
    Column("condition", Json, nullable=False),
    Column("severity", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("department", Text, nullable=True),
    Column("assignee", Text, nullable=True),
    Column("escalation", Json, nullable=False),
    Column("active_windows", Json, nullable=False),
    Column("auto_resolve", Boolean, nullable=False),
    Column("incident_type", Text, nullable=True),
    Column("source", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("modified_at", BigInteger, nullable=False),
)

# One row per alert; at most one not-resolved alert per (rule, subject entity): no storms.
alerts = Table(
    "alerts",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("rule_id", Text, nullable=True),
    Column("subject_id", Text, nullable=False),
    Column("subject_type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("condition_state", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("department", Text, nullable=True),
    Column("assignee", Text, nullable=True),
    Column("escalation_level", Integer, nullable=False),
    Column("escalate_at", BigInteger, nullable=True),
    Column("opened_at", BigInteger, nullable=False),
    Column("last_fired_at", BigInteger, nullable=False),
    Column("fire_count", Integer, nullable=False),
    Column("acknowledged_at", BigInteger, nullable=True),
    Column("acknowledged_by", Text, nullable=True),
    Column("resolved_at", BigInteger, nullable=True),
    Column("resolved_by", Text, nullable=True),
    Column("values", Json, nullable=True),
    Column("location", Json, nullable=True),
    Column("incident_id", BigInteger, nullable=True),
    Index(
        "ux_alerts_open_per_rule_subject",
        "rule_id",
        "subject_id",
        unique=True,
        sqlite_where=text("status <> 'resolved'"),
        postgresql_where=text("status <> 'resolved'"),
    ),
    Index("ix_alerts_status_escalate", "status", "escalate_at"),
)

# The timeline of an alert or an incident: everything done to it, by whom, when.
timeline = Table(
    "alert_timeline",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("alert_id", BigInteger, nullable=True),
    Column("incident_id", BigInteger, nullable=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("detail", Json, nullable=True),
    Index("ix_alert_timeline_alert", "alert_id"),
    Index("ix_alert_timeline_incident", "incident_id"),
)

# Incident types and their standard operating procedure (SOP) checklists.
incident_types = Table(
    "incident_types",
    metadata,
    Column("code", Text, primary_key=True),
    Column("name_vi", Text, nullable=False),
    Column("name_en", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("department", Text, nullable=True),
    Column("steps", Json, nullable=False),
    Column("source", Text, nullable=False),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("type_code", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("department", Text, nullable=True),
    Column("commander", Text, nullable=True),
    Column("location", Json, nullable=True),
    Column("opened_at", BigInteger, nullable=False),
    Column("opened_by", Text, nullable=False),
    Column("closed_at", BigInteger, nullable=True),
    Column("closed_by", Text, nullable=True),
    Column("report", Json, nullable=True),
)

incident_steps = Table(
    "incident_steps",
    metadata,
    Column("incident_id", BigInteger, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("title_vi", Text, nullable=False),
    Column("title_en", Text, nullable=False),
    Column("department", Text, nullable=True),
    Column("due_at", BigInteger, nullable=True),
    Column("status", Text, nullable=False),
    Column("done_at", BigInteger, nullable=True),
    Column("done_by", Text, nullable=True),
    Column("note", Text, nullable=True),
)

# Per-user choices: which severities reach them, on which channels, and quiet hours.
notification_preferences = Table(
    "notification_preferences",
    metadata,
    Column("user_id", BigInteger, primary_key=True),
    Column("severities", Json, nullable=False),
    Column("channels", Json, nullable=False),
    Column("email", Text, nullable=True),
    Column("webhook_url", Text, nullable=True),
    Column("quiet_from", Text, nullable=True),
    Column("quiet_to", Text, nullable=True),
    Column("modified_at", BigInteger, nullable=False),
)

# Outbox of alert notifications (e-mail, webhook), written with the alert change itself and
# kept after delivery as the record of who was told what.
alert_notifications = Table(
    "alert_notifications",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("alert_id", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=True),
    Column("channel", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", Json, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("delivered_at", BigInteger, nullable=True),
    Index("ix_alert_notifications_due", "status", "next_attempt_at"),
)
