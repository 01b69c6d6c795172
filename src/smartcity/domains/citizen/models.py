"""The citizen domain's tables: the service catalogue, reports, their photos and updates."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)

from smartcity.core.db import BigPk, Json

metadata = MetaData()

#: What citizens can report, who handles it and how fast (editable by admins).
services = Table(
    "citizen_services",
    metadata,
    Column("code", Text, primary_key=True),
    Column("name_vi", Text, nullable=False),
    Column("name_en", Text, nullable=False),
    Column("description_vi", Text, nullable=False),
    Column("description_en", Text, nullable=False),
    Column("group_name", Text, nullable=False),
    Column("keywords", Json, nullable=False),
    Column("department", Text, nullable=False),
    #: Ward name → department, where a ward's reports go elsewhere than the default.
    Column("ward_departments", Json, nullable=False),
    Column("sla_days", Integer, nullable=False),
    Column("attributes", Json, nullable=False),
    #: Entity type a report links to (the nearest one), e.g. Streetlight.
    Column("linked_type", Text, nullable=True),
    Column("active", Boolean, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

#: One citizen report (an Open311 service request).
requests = Table(
    "citizen_requests",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("token", Text, nullable=False, unique=True),
    Column("service_code", Text, nullable=False),
    #: received, assigned, in_progress, need_info, closed, merged
    Column("state", Text, nullable=False),
    Column("description", Text, nullable=True),
    #: What the public sees of the description (moderation may shorten it).
    Column("public_description", Text, nullable=True),
    Column("hidden_reason", Text, nullable=True),
    Column("lat", Float, nullable=True),
    Column("long", Float, nullable=True),
    Column("address", Text, nullable=True),
    Column("ward", Text, nullable=True),
    Column("attributes", Json, nullable=False),
    Column("department", Text, nullable=False),
    Column("assignee", Text, nullable=True),
    #: Personal data: who reported (a signed-in citizen) and how to reach them.
    Column("reporter_id", BigInteger, nullable=True),
    Column("contact", Json, nullable=True),
    Column("device_id", Text, nullable=True),
    Column("requested_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("due_at", BigInteger, nullable=False),
    Column("closed_at", BigInteger, nullable=True),
    Column("result", Text, nullable=True),
    Column("rating", Integer, nullable=True),
    Column("rating_comment", Text, nullable=True),
    Column("merged_into", BigInteger, nullable=True),
    Column("linked_entity", Text, nullable=True),
    Column("alert_id", BigInteger, nullable=True),
    Index("ix_citizen_requests_dept_state", "department", "state"),
    Index("ix_citizen_requests_requested", "requested_at"),
    Index("ix_citizen_requests_reporter", "reporter_id"),
)

#: Photos, cleaned (resized, metadata stripped) before they are stored.
media = Table(
    "citizen_media",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("request_id", BigInteger, ForeignKey("citizen_requests.id"), nullable=False),
    Column("kind", Text, nullable=False),  # report (the citizen's) or result (the closing one)
    Column("media_type", Text, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_citizen_media_request", "request_id"),
)

#: Everything that happened to a report (public ones are Open311 service request updates).
updates = Table(
    "citizen_updates",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("request_id", BigInteger, ForeignKey("citizen_requests.id"), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("state", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("note", Text, nullable=True),
    Column("public", Boolean, nullable=False),
    Column("actor", Text, nullable=False),
    Index("ix_citizen_updates_request", "request_id", "at"),
    Index("ix_citizen_updates_at", "at"),
)

#: Messages to citizens about their reports (and reports they follow).
notifications = Table(
    "citizen_notifications",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, nullable=False),
    Column("request_id", BigInteger, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("text_vi", Text, nullable=False),
    Column("text_en", Text, nullable=False),
    Column("read", Boolean, nullable=False),
    Index("ix_citizen_notifications_user", "user_id", "id"),
)

#: Citizens following a report someone else filed (instead of filing a duplicate).
follows = Table(
    "citizen_follows",
    metadata,
    Column("request_id", BigInteger, primary_key=True),
    Column("user_id", BigInteger, primary_key=True),
    Column("at", BigInteger, nullable=False),
)
