"""SQL of the citizen domain (the only place with queries on its tables)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, func, insert, select, update

from .models import follows, media, notifications, requests, services, updates


def _rows(result: Any) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in result.mappings()]


# --- service catalogue ---------------------------------------------------------------------


def list_services(conn: Connection, active_only: bool = True) -> list[dict[str, Any]]:
    """The catalogue, by code."""
    stmt = select(services).order_by(services.c.code)
    if active_only:
        stmt = stmt.where(services.c.active.is_(True))
    return _rows(conn.execute(stmt))


def get_service(conn: Connection, code: str) -> dict[str, Any] | None:
    """One catalogue entry."""
    found = _rows(conn.execute(select(services).where(services.c.code == code)))
    return found[0] if found else None


def save_service(conn: Connection, row: dict[str, Any]) -> None:
    """Insert or replace a catalogue entry."""
    if conn.execute(update(services).where(services.c.code == row["code"]).values(**row)).rowcount:
        return
    conn.execute(insert(services).values(**row))


def count_services(conn: Connection) -> int:
    """How many entries the catalogue has (0: not seeded yet)."""
    return int(conn.execute(select(func.count()).select_from(services)).scalar() or 0)


# --- reports -------------------------------------------------------------------------------


def insert_request(conn: Connection, row: dict[str, Any]) -> int:
    """Store a new report; its id."""
    return int(conn.execute(insert(requests).values(**row).returning(requests.c.id)).scalar_one())


def get_request(
    conn: Connection, request_id: int, for_update: bool = False
) -> dict[str, Any] | None:
    """One report."""
    stmt = select(requests).where(requests.c.id == request_id)
    if for_update and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    found = _rows(conn.execute(stmt))
    return found[0] if found else None


def get_request_by_token(conn: Connection, token: str) -> dict[str, Any] | None:
    """The report a submission token stands for."""
    found = _rows(conn.execute(select(requests).where(requests.c.token == token)))
    return found[0] if found else None


def update_request(conn: Connection, request_id: int, values: dict[str, Any]) -> None:
    """Change a report's columns."""
    conn.execute(update(requests).where(requests.c.id == request_id).values(**values))


@dataclass(frozen=True)
class RequestFilter:
    """Which reports a list asks for (None: any)."""

    ids: Sequence[int] = ()
    service_codes: Sequence[str] = ()
    states: Sequence[str] = ()
    start_us: int | None = None
    end_us: int | None = None
    departments: Iterable[str] | None = None
    reporter_id: int | None = None
    bbox: tuple[float, float, float, float] | None = None  # min lon, min lat, max lon, max lat
    limit: int = 1000


def list_requests(conn: Connection, flt: RequestFilter) -> list[dict[str, Any]]:
    """Reports matching a filter, newest first."""
    stmt = select(requests).order_by(requests.c.id.desc()).limit(flt.limit)
    where: list[ColumnElement[bool]] = []
    if flt.ids:
        where.append(requests.c.id.in_(list(flt.ids)))
    if flt.service_codes:
        where.append(requests.c.service_code.in_(list(flt.service_codes)))
    if flt.states:
        where.append(requests.c.state.in_(list(flt.states)))
    if flt.start_us is not None:
        where.append(requests.c.requested_at >= flt.start_us)
    if flt.end_us is not None:
        where.append(requests.c.requested_at <= flt.end_us)
    if flt.departments is not None:
        where.append(requests.c.department.in_(list(flt.departments)))
    if flt.reporter_id is not None:
        where.append(requests.c.reporter_id == flt.reporter_id)
    if flt.bbox is not None:
        lon0, lat0, lon1, lat1 = flt.bbox
        where += [requests.c.long.between(lon0, lon1), requests.c.lat.between(lat0, lat1)]
    return _rows(conn.execute(stmt.where(*where)))


def count_recent_from(conn: Connection, device_id: str, since_us: int) -> int:
    """Reports sent from one device (or client) since a time: for the spam limit."""
    stmt = select(func.count()).where(
        requests.c.device_id == device_id, requests.c.requested_at >= since_us
    )
    return int(conn.execute(stmt).scalar() or 0)


# --- photos --------------------------------------------------------------------------------


def insert_media(conn: Connection, row: dict[str, Any]) -> int:
    """Store a cleaned photo; its id."""
    return int(conn.execute(insert(media).values(**row).returning(media.c.id)).scalar_one())


def media_of(conn: Connection, request_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The photos of some reports, without their bytes."""
    if not request_ids:
        return []
    cols = [c for c in media.c if c.name != "data"]
    stmt = select(*cols).where(media.c.request_id.in_(list(request_ids))).order_by(media.c.id)
    return _rows(conn.execute(stmt))


def get_media(conn: Connection, media_id: int) -> dict[str, Any] | None:
    """One photo with its bytes."""
    found = _rows(conn.execute(select(media).where(media.c.id == media_id)))
    return found[0] if found else None


# --- updates, notifications, follows -------------------------------------------------------


def add_update(conn: Connection, row: dict[str, Any]) -> int:
    """Log something that happened to a report."""
    return int(conn.execute(insert(updates).values(**row).returning(updates.c.id)).scalar_one())


def list_updates(
    conn: Connection,
    request_ids: Sequence[int] = (),
    start_us: int | None = None,
    end_us: int | None = None,
    public_only: bool = True,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Updates of reports, oldest first."""
    stmt = select(updates).order_by(updates.c.at, updates.c.id).limit(limit)
    if request_ids:
        stmt = stmt.where(updates.c.request_id.in_(list(request_ids)))
    if start_us is not None:
        stmt = stmt.where(updates.c.at >= start_us)
    if end_us is not None:
        stmt = stmt.where(updates.c.at <= end_us)
    if public_only:
        stmt = stmt.where(updates.c.public.is_(True))
    return _rows(conn.execute(stmt))


def add_notification(conn: Connection, row: dict[str, Any]) -> None:
    """A message to a citizen."""
    conn.execute(insert(notifications).values(**row))


def list_notifications(conn: Connection, user_id: int, limit: int = 100) -> list[dict[str, Any]]:
    """A citizen's messages, newest first."""
    stmt = (
        select(notifications)
        .where(notifications.c.user_id == user_id)
        .order_by(notifications.c.id.desc())
        .limit(limit)
    )
    return _rows(conn.execute(stmt))


def mark_read(conn: Connection, user_id: int) -> None:
    """All of a citizen's messages read."""
    conn.execute(update(notifications).where(notifications.c.user_id == user_id).values(read=True))


def add_follow(conn: Connection, request_id: int, user_id: int, at: int) -> None:
    """A citizen follows a report (idempotent)."""
    conn.execute(
        delete(follows).where(follows.c.request_id == request_id, follows.c.user_id == user_id)
    )
    conn.execute(insert(follows).values(request_id=request_id, user_id=user_id, at=at))


def followers(conn: Connection, request_id: int) -> list[int]:
    """Who follows a report."""
    stmt = select(follows.c.user_id).where(follows.c.request_id == request_id)
    return [int(row[0]) for row in conn.execute(stmt)]
