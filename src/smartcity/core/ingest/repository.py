"""SQL of device ingestion (the only place with queries on the ingestion tables)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    bindparam,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from .tables import dead_letters, iot_commands, iot_devices, iot_groups

# --- service groups ----------------------------------------------------------------------


def insert_groups(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert service groups (IntegrityError when an apikey is taken)."""
    conn.execute(insert(iot_groups), list(rows))


def get_group(conn: Connection, apikey: str) -> dict[str, Any] | None:
    """The service group with this apikey."""
    row = conn.execute(select(iot_groups).where(iot_groups.c.apikey == apikey)).mappings().first()
    return dict(row) if row else None


def list_groups(
    conn: Connection, limit: int, offset: int, entity_types: Iterable[str] | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """A page of service groups (optionally of some entity types) and their total count."""
    where = [] if entity_types is None else [iot_groups.c.entity_type.in_(list(entity_types))]
    total = conn.execute(select(func.count()).select_from(iot_groups).where(*where)).scalar_one()
    stmt = (
        select(iot_groups).where(*where).order_by(iot_groups.c.apikey).limit(limit).offset(offset)
    )
    return total, [dict(row) for row in conn.execute(stmt).mappings()]


def update_group(conn: Connection, apikey: str, values: dict[str, Any]) -> bool:
    """Change a service group; False when there is none."""
    stmt = update(iot_groups).where(iot_groups.c.apikey == apikey).values(**values)
    return conn.execute(stmt).rowcount > 0


def delete_group(conn: Connection, apikey: str) -> bool:
    """Delete a service group; False when there is none."""
    return conn.execute(delete(iot_groups).where(iot_groups.c.apikey == apikey)).rowcount > 0


def count_devices_of_group(conn: Connection, apikey: str) -> int:
    """How many devices are provisioned under this apikey."""
    stmt = select(func.count()).select_from(iot_devices).where(iot_devices.c.apikey == apikey)
    return int(conn.execute(stmt).scalar_one())


# --- devices -----------------------------------------------------------------------------


def insert_devices(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert devices (IntegrityError when a device_id is taken)."""
    conn.execute(insert(iot_devices), list(rows))


def get_device(conn: Connection, device_id: str) -> dict[str, Any] | None:
    """The device with this id."""
    stmt = select(iot_devices).where(iot_devices.c.device_id == device_id)
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def device_ids_of_entity(conn: Connection, entity_id: str) -> list[str]:
    """The devices that feed (and take commands for) an entity."""
    stmt = select(iot_devices.c.device_id).where(iot_devices.c.entity_name == entity_id)
    return sorted(str(row[0]) for row in conn.execute(stmt))


def existing_device_ids(conn: Connection, device_ids: Iterable[str]) -> set[str]:
    """Which of these device ids are provisioned already."""
    wanted = list(device_ids)
    found: set[str] = set()
    for first in range(0, len(wanted), 500):
        stmt = select(iot_devices.c.device_id).where(
            iot_devices.c.device_id.in_(wanted[first : first + 500])
        )
        found.update(conn.execute(stmt).scalars())
    return found


def list_devices(
    conn: Connection, limit: int, offset: int, entity_types: Iterable[str] | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """A page of devices (optionally only of some entity types) and their total count."""
    where = [] if entity_types is None else [iot_devices.c.entity_type.in_(list(entity_types))]
    total = conn.execute(select(func.count()).select_from(iot_devices).where(*where)).scalar_one()
    stmt = (
        select(iot_devices)
        .where(*where)
        .order_by(iot_devices.c.device_id)
        .limit(limit)
        .offset(offset)
    )
    return total, [dict(row) for row in conn.execute(stmt).mappings()]


def update_device(conn: Connection, device_id: str, values: dict[str, Any]) -> bool:
    """Change a device's provisioning; False when there is none."""
    stmt = update(iot_devices).where(iot_devices.c.device_id == device_id).values(**values)
    return conn.execute(stmt).rowcount > 0


def delete_device(conn: Connection, device_id: str) -> bool:
    """Delete a device; False when there is none."""
    stmt = delete(iot_devices).where(iot_devices.c.device_id == device_id)
    return conn.execute(stmt).rowcount > 0


_TOUCH = (
    update(iot_devices)
    .where(iot_devices.c.device_id == bindparam("b_device"))
    .values(
        last_seen_us=func.max(func.coalesce(iot_devices.c.last_seen_us, 0), bindparam("seen")),
        battery=func.coalesce(bindparam("battery"), iot_devices.c.battery),
        rssi=func.coalesce(bindparam("rssi"), iot_devices.c.rssi),
    )
)
_TOUCH_PG = (
    update(iot_devices)
    .where(iot_devices.c.device_id == bindparam("b_device"))
    .values(
        last_seen_us=func.greatest(func.coalesce(iot_devices.c.last_seen_us, 0), bindparam("seen")),
        battery=func.coalesce(bindparam("battery"), iot_devices.c.battery),
        rssi=func.coalesce(bindparam("rssi"), iot_devices.c.rssi),
    )
)


def touch_devices(conn: Connection, seen: Sequence[dict[str, Any]]) -> None:
    """Record that devices reported (rows of b_device, seen, battery, rssi)."""
    if seen:
        conn.execute(_TOUCH_PG if conn.dialect.name == "postgresql" else _TOUCH, list(seen))


def devices_gone_silent(conn: Connection, now_us: int) -> list[dict[str, Any]]:
    """Online devices silent for more than 3 × their expected reporting interval."""
    stmt = select(iot_devices).where(
        iot_devices.c.state == "online",
        iot_devices.c.expected_interval_s.is_not(None),
        # 64-bit arithmetic: an int column × 3,000,000 overflows PostgreSQL's 32-bit integer
        # from a 716 s interval up (a 15-minute device would break the whole sweep).
        iot_devices.c.last_seen_us + cast(iot_devices.c.expected_interval_s, BigInteger) * 3_000_000
        < now_us,
    )
    return [dict(row) for row in conn.execute(stmt).mappings()]


def devices_to_mirror(conn: Connection, older_than_us: int) -> list[dict[str, Any]]:
    """Devices whose health changed since it was last mirrored onto their Device entity."""
    mirrored = func.coalesce(iot_devices.c.mirrored_us, 0)
    stmt = select(iot_devices).where(
        iot_devices.c.last_seen_us > mirrored,
        # A device that comes back is shown at once; an online one at most every interval.
        or_(iot_devices.c.state != "online", mirrored < older_than_us),
    )
    return [dict(row) for row in conn.execute(stmt).mappings()]


def set_device_state(conn: Connection, device_id: str, state: str, mirrored_us: int) -> None:
    """Store a device's health state and when it was mirrored."""
    conn.execute(
        update(iot_devices)
        .where(iot_devices.c.device_id == device_id)
        .values(state=state, mirrored_us=mirrored_us)
    )


# --- commands ----------------------------------------------------------------------------


def insert_command(conn: Connection, row: dict[str, Any]) -> int:
    """Store a new command; its id."""
    stmt = insert(iot_commands).values(**row).returning(iot_commands.c.id)
    return int(conn.execute(stmt).scalar_one())


def get_command(conn: Connection, command_id: int) -> dict[str, Any] | None:
    """The command with this id."""
    stmt = select(iot_commands).where(iot_commands.c.id == command_id)
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def list_commands(conn: Connection, device_id: str, limit: int) -> list[dict[str, Any]]:
    """A device's latest commands, newest first."""
    stmt = (
        select(iot_commands)
        .where(iot_commands.c.device_id == device_id)
        .order_by(iot_commands.c.id.desc())
        .limit(limit)
    )
    return [dict(row) for row in conn.execute(stmt).mappings()]


def open_command(conn: Connection, device_id: str, name: str) -> dict[str, Any] | None:
    """The oldest command of this name still waiting for the device's answer."""
    stmt = (
        select(iot_commands)
        .where(
            iot_commands.c.device_id == device_id,
            iot_commands.c.name == name,
            iot_commands.c.status.in_(("PENDING", "DELIVERED")),
        )
        .order_by(iot_commands.c.id)
        .limit(1)
    )
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def pending_commands(conn: Connection, device_id: str) -> list[dict[str, Any]]:
    """Commands not yet handed to a polling device, oldest first."""
    stmt = (
        select(iot_commands)
        .where(iot_commands.c.device_id == device_id, iot_commands.c.status == "PENDING")
        .order_by(iot_commands.c.id)
    )
    return [dict(row) for row in conn.execute(stmt).mappings()]


def set_command_status(
    conn: Connection, command_id: int, status: str, now_us: int, result: Any = None
) -> None:
    """Move a command to a new status (with the device's result, if any)."""
    values: dict[str, Any] = {"status": status, "updated_at": now_us}
    if result is not None:
        values["result"] = result
    conn.execute(update(iot_commands).where(iot_commands.c.id == command_id).values(**values))


def expired_commands(conn: Connection, now_us: int) -> list[dict[str, Any]]:
    """Commands past their deadline without an answer."""
    stmt = select(iot_commands).where(
        iot_commands.c.status.in_(("PENDING", "DELIVERED")), iot_commands.c.expires_at < now_us
    )
    return [dict(row) for row in conn.execute(stmt).mappings()]


# --- dead letters ------------------------------------------------------------------------


def insert_dead_letters(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Store dead letters."""
    if rows:
        conn.execute(insert(dead_letters), list(rows))


def list_dead_letters(
    conn: Connection,
    limit: int,
    offset: int,
    device_id: str | None = None,
    device_types: Iterable[str] | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """A page of dead letters, newest first, and their total count.

    `device_types`: only letters of provisioned devices of these (expanded) entity types.
    """
    where = [] if device_id is None else [dead_letters.c.device_id == device_id]
    if device_types is not None:
        of_types = select(iot_devices.c.device_id).where(
            iot_devices.c.entity_type.in_(list(device_types))
        )
        where.append(dead_letters.c.device_id.in_(of_types))
    total = conn.execute(select(func.count()).select_from(dead_letters).where(*where)).scalar_one()
    stmt = (
        select(dead_letters)
        .where(*where)
        .order_by(dead_letters.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return total, [dict(row) for row in conn.execute(stmt).mappings()]


def get_dead_letter(conn: Connection, letter_id: int) -> dict[str, Any] | None:
    """One dead letter."""
    stmt = select(dead_letters).where(dead_letters.c.id == letter_id)
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def mark_replayed(conn: Connection, letter_id: int, at_us: int, outcome: str) -> None:
    """Note that a dead letter was replayed, and how it went."""
    conn.execute(
        update(dead_letters)
        .where(dead_letters.c.id == letter_id)
        .values(replayed_at=at_us, replay_outcome=outcome)
    )


def purge_dead_letters(conn: Connection, before_us: int) -> int:
    """Delete dead letters received before this instant; how many."""
    stmt = delete(dead_letters).where(dead_letters.c.received_at < before_us)
    return int(conn.execute(stmt).rowcount)
