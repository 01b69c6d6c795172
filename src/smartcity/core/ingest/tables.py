"""Tables of device ingestion: service groups, devices, commands and dead letters."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)

from smartcity.core.db import BigPk, Json

metadata = MetaData()

# A FIWARE IoT Agent "service group": the apikey devices put in their topics and URLs,
# and the defaults (entity type, attribute mapping, commands) of the devices under it.
iot_groups = Table(
    "iot_groups",
    metadata,
    Column("apikey", Text, primary_key=True),
    Column("resource", Text, nullable=False),
    Column("entity_type", Text, nullable=False),
    Column("attributes", Json, nullable=False),
    Column("commands", Json, nullable=False),
    Column("static_attributes", Json, nullable=False),
    Column("explicit_attrs", Boolean, nullable=False),
    Column("expected_interval_s", Integer, nullable=True),
    Column("created_by", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

iot_devices = Table(
    "iot_devices",
    metadata,
    Column("device_id", Text, primary_key=True),
    Column("apikey", Text, nullable=False),
    Column("entity_name", Text, nullable=False),
    Column("entity_type", Text, nullable=False),
    # "IoTA-JSON" or "IoTA-UL"; "MQTT" or "HTTP".
    Column("protocol", Text, nullable=False),
    Column("transport", Text, nullable=False),
    Column("attributes", Json, nullable=False),
    Column("commands", Json, nullable=False),
    Column("static_attributes", Json, nullable=False),
    Column("explicit_attrs", Boolean, nullable=False),
    Column("expected_interval_s", Integer, nullable=True),
    Column("location", Json, nullable=True),
    Column("created_by", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    # Health: written by the ingest path (last_seen) and the health sweep (the rest).
    Column("last_seen_us", BigInteger, nullable=True),
    Column("state", Text, nullable=False),
    Column("battery", Float, nullable=True),
    Column("rssi", Float, nullable=True),
    Column("mirrored_us", BigInteger, nullable=True),
    Index("ix_iot_devices_apikey", "apikey"),
)

iot_commands = Table(
    "iot_commands",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("device_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("value", Json, nullable=True),
    # PENDING → DELIVERED (an HTTP device polled it) → OK | ERROR; EXPIRED on timeout.
    Column("status", Text, nullable=False),
    Column("result", Json, nullable=True),
    Column("created_by", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_iot_commands_device_status", "device_id", "status"),
    Index("ix_iot_commands_status_expiry", "status", "expires_at"),
)

# Input that could not be stored, kept byte for byte with the reason, for repair and replay.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("received_at", BigInteger, nullable=False),
    Column("transport", Text, nullable=False),
    Column("topic", Text, nullable=True),
    Column("apikey", Text, nullable=True),
    Column("device_id", Text, nullable=True),
    Column("protocol", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("reason", Text, nullable=False),
    Column("replayed_at", BigInteger, nullable=True),
    Column("replay_outcome", Text, nullable=True),
    Index("ix_dead_letters_received", "received_at"),
    Index("ix_dead_letters_device", "device_id", "received_at"),
)
