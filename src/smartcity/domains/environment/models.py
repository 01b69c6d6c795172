"""The environment domain's own tables: automatic gate control and its action log."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, MetaData, Table, Text

from smartcity.core.db import BigPk

metadata = MetaData()

#: One row per controlled gate or intake: its controller's state (regulation.GateState).
gate_control = Table(
    "env_gate_control",
    metadata,
    Column("gate_id", Text, primary_key=True),  # the SluiceGate entity id
    Column("device_id", Text, nullable=True),
    Column("position", Text, nullable=False),
    Column("mode", Text, nullable=False),
    Column("since", Float, nullable=False),
    Column("above_since", Float, nullable=True),
    Column("below_since", Float, nullable=True),
    Column("pending", Text, nullable=True),
    Column("pending_since", Float, nullable=True),
    Column("last_reading", Float, nullable=True),
    Column("mode_since", Float, nullable=True),
    Column("updated_at", BigInteger, nullable=False),
)

#: Every gate action and mode change, with its reason (shown on the dashboard).
gate_actions = Table(
    "env_gate_actions",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("gate_id", Text, nullable=False),
    Column("action", Text, nullable=False),  # open, close, manual, auto, acknowledged
    Column("mode", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("salinity", Float, nullable=True),
    Column("reason_vi", Text, nullable=False),
    Column("reason_en", Text, nullable=False),
    Column("outcome", Text, nullable=True),
    Index("ix_env_gate_actions_gate_at", "gate_id", "at"),
)
