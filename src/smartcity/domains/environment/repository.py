"""SQL of the environment domain's own tables (gate control and its action log)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, update

from .models import gate_actions, gate_control


def get_gate(conn: Connection, gate_id: str) -> dict[str, Any] | None:
    """A gate's controller state."""
    row = conn.execute(select(gate_control).where(gate_control.c.gate_id == gate_id)).first()
    return dict(row._mapping) if row else None


def list_gates(conn: Connection) -> list[dict[str, Any]]:
    """Every controlled gate."""
    stmt = select(gate_control).order_by(gate_control.c.gate_id)
    return [dict(row) for row in conn.execute(stmt).mappings()]


def save_gate(conn: Connection, values: dict[str, Any]) -> None:
    """Insert or update a gate's controller state."""
    gate_id = values["gate_id"]
    changed = conn.execute(
        update(gate_control).where(gate_control.c.gate_id == gate_id).values(**values)
    ).rowcount
    if not changed:
        conn.execute(insert(gate_control).values(**values))


def add_action(conn: Connection, values: dict[str, Any]) -> int:
    """Log a gate action; its id."""
    result = conn.execute(insert(gate_actions).values(**values).returning(gate_actions.c.id))
    return int(result.scalar_one())


def set_outcome(conn: Connection, action_id: int, outcome: str) -> None:
    """Record how a commanded action ended (OK, ERROR, EXPIRED)."""
    conn.execute(update(gate_actions).where(gate_actions.c.id == action_id).values(outcome=outcome))


def last_command_action(conn: Connection, gate_id: str) -> dict[str, Any] | None:
    """The gate's newest open/close action without an outcome."""
    stmt = (
        select(gate_actions)
        .where(
            gate_actions.c.gate_id == gate_id,
            gate_actions.c.action.in_(["open", "close"]),
            gate_actions.c.outcome.is_(None),
        )
        .order_by(gate_actions.c.id.desc())
        .limit(1)
    )
    row = conn.execute(stmt).first()
    return dict(row._mapping) if row else None


def list_actions(conn: Connection, gate_id: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest actions, of one gate or all."""
    stmt = select(gate_actions).order_by(gate_actions.c.id.desc()).limit(limit)
    if gate_id is not None:
        stmt = stmt.where(gate_actions.c.gate_id == gate_id)
    return [dict(row) for row in conn.execute(stmt).mappings()]


def count_actions(conn: Connection, gate_id: str, actions: tuple[str, ...]) -> int:
    """How many actions of these kinds a gate has had."""
    stmt = select(gate_actions.c.id).where(
        gate_actions.c.gate_id == gate_id, gate_actions.c.action.in_(list(actions))
    )
    return len(conn.execute(stmt).all())
