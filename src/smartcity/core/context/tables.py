"""Tables of the context broker (one schema for SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)

from smartcity.core.db import BigPk, Json

metadata = MetaData()


entities = Table(
    "entities",
    metadata,
    Column("pk", BigPk, primary_key=True, autoincrement=True),
    Column("id", Text, nullable=False, unique=True),
    Column("type", Text, nullable=False),
    # Further types of a multi-typed entity (NGSI-LD 1.5+); NULL for the usual single type.
    Column("extra_types", Json, nullable=True),
    Column("attrs", Json, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("modified_at", BigInteger, nullable=False),
    # Bounding box of the default `location`, mirrored into the spatial index.
    Column("loc_minx", Float, nullable=True),
    Column("loc_miny", Float, nullable=True),
    Column("loc_maxx", Float, nullable=True),
    Column("loc_maxy", Float, nullable=True),
    Index("ix_entities_type_pk", "type", "pk"),
)

# What a positive number/string test on a top-level attribute can match (see qlang), one row
# per value, so selective `q` terms use a B-tree instead of reading every entity's JSON.
# Strings compare in code-point order on both backends (collation "C" on PostgreSQL).
attr_index = Table(
    "attr_index",
    metadata,
    Column("entity_pk", BigInteger, ForeignKey("entities.pk", ondelete="CASCADE"), nullable=False),
    Column("attr", Text, nullable=False),
    Column("num", Float, nullable=True),
    Column("txt", Text().with_variant(Text(collation="C"), "postgresql"), nullable=True),
    Index("ix_attr_index_num", "attr", "num", "entity_pk"),
    Index("ix_attr_index_txt", "attr", "txt", "entity_pk"),
    Index("ix_attr_index_entity", "entity_pk", "attr", "num"),
)

# Every attribute change, time-ordered. On PostgreSQL the migration creates it
# partitioned by month of observed_at; this definition is what queries use.
attr_history = Table(
    "attr_history",
    metadata,
    Column("pk", BigPk, primary_key=True, autoincrement=True),
    Column("entity_id", Text, nullable=False),
    Column("entity_type", Text, nullable=False),
    Column("attr", Text, nullable=False),
    Column("dataset_id", Text, nullable=True),
    Column("observed_at", BigInteger, nullable=False),
    Column("value_num", Float, nullable=True),
    Column("instance", Json, nullable=False),
    Index("ix_attr_history_entity_attr_time", "entity_id", "attr", "observed_at", "value_num"),
    Index("ix_attr_history_type_time", "entity_type", "observed_at"),
    sqlite_autoincrement=True,
)

# The change feed (a transactional outbox): one row per entity created, changed or deleted,
# written in the transaction that made the change, read in order by the event dispatcher.
entity_changes = Table(
    "entity_changes",
    metadata,
    Column("seq", BigPk, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("entity_id", Text, nullable=False),
    Column("entity_type", Text, nullable=False),
    # "create", "update" or "delete".
    Column("op", Text, nullable=False),
    # Attribute IRIs written (create/update); NULL for delete.
    Column("attrs", Json, nullable=True),
    Index("ix_entity_changes_at", "at"),
    sqlite_autoincrement=True,
)

# NGSI-LD subscriptions: the request body as given (compacted terms) with its @context,
# plus the state the broker keeps (status counters, the owner's hidden personal types).
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("owner", Text, nullable=False),
    Column("body", Json, nullable=False),
    Column("context", Json, nullable=True),
    Column("hidden_types", Json, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("times_sent", Integer, nullable=False),
    Column("last_notification", BigInteger, nullable=True),
    Column("last_success", BigInteger, nullable=True),
    Column("last_failure", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("modified_at", BigInteger, nullable=False),
)

# Notifications waiting to be delivered (retried with backoff while the receiver is down).
notification_outbox = Table(
    "notification_outbox",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("subscription_id", Text, nullable=False),
    Column("payload", Json, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("last_error", Text, nullable=True),
    Index("ix_notification_outbox_due", "next_attempt_at"),
)


# Where each reader of the entity change feed got to (a new leader resumes from here).
feed_cursors = Table(
    "feed_cursors",
    metadata,
    Column("name", Text, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("at", BigInteger, nullable=False),
)
