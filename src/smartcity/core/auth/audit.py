"""The append-only, hash-chained audit log: who did what to which resource, and how it ended."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, text

from smartcity.core.db import Database

from .tables import audit_log

GENESIS = "0" * 64
_FIELDS = ("at", "actor", "role", "action", "resource", "outcome", "status", "client", "detail")


@dataclass(frozen=True)
class AuditEntry:
    """One event to record."""

    at: int
    actor: str
    role: str
    action: str
    resource: str
    outcome: str
    status: int
    client: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class AuditFilter:
    """What an admin asks of the log."""

    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    resource_prefix: str | None = None
    since: int | None = None
    until: int | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class ChainCheck:
    """The result of verifying the chain."""

    ok: bool
    rows: int
    first_bad_seq: int | None = None


def row_hash(prev_hash: str, values: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and this row's fields, unambiguously separated."""
    parts = [prev_hash, *("" if values[f] is None else str(values[f]) for f in _FIELDS)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class AuditLog:
    """Records, queries, verifies and prunes the audit log."""

    def __init__(self, database: Database) -> None:
        self.database = database
        # Entries waiting for the next append job, and that job's future: concurrent requests
        # share one job (one chain-head read, one insert) instead of queueing one each.
        self._lock = threading.Lock()
        self._pending: list[AuditEntry] = []
        self._flush: Future[None] | None = None

    def append_job(self, entries: Sequence[AuditEntry]) -> Any:
        """A write job appending `entries` to the chain (run it on the write queue)."""

        def job(conn: Connection) -> None:
            if conn.dialect.name == "postgresql":
                # Several processes append: serialise them so each sees the true last hash.
                conn.execute(text("SELECT pg_advisory_xact_lock(7231001)"))
            prev = _last_hash(conn)
            rows = []
            for entry in entries:
                values = {f: getattr(entry, f) for f in _FIELDS}
                current = row_hash(prev, values)
                rows.append({**values, "prev_hash": prev, "row_hash": current})
                prev = current
            conn.execute(insert(audit_log), rows)

        return job

    def record(self, *entries: AuditEntry) -> None:
        """Append entries and wait until they are committed."""
        self.database.run_write(self.append_job(entries))

    async def record_async(self, *entries: AuditEntry) -> None:
        """Append entries from the event loop and wait until they are committed."""
        with self._lock:
            self._pending.extend(entries)
            if self._flush is None:
                self._flush = self.database.submit_write(self._flush_job())
            flush = self._flush
        await asyncio.wrap_future(flush)

    def _flush_job(self) -> Callable[[Connection], None]:
        """A job taking the pending entries on its first run and writing them on every run.

        The write queue may run a job again after rolling back a failed group, so the
        entries are taken once and kept, not taken again (which would lose them).
        """
        taken: list[AuditEntry] | None = None

        def job(conn: Connection) -> None:
            nonlocal taken
            if taken is None:
                with self._lock:
                    taken, self._pending, self._flush = self._pending, [], None
            if taken:
                self.append_job(taken)(conn)

        return job

    def query(self, flt: AuditFilter) -> tuple[list[dict[str, Any]], int]:
        """One page of matching rows, newest first, and the total count."""
        clauses = _clauses(flt)
        with self.database.read() as conn:
            total = conn.execute(select(func.count()).select_from(audit_log).where(*clauses))
            rows = conn.execute(
                select(audit_log)
                .where(*clauses)
                .order_by(audit_log.c.seq.desc())
                .limit(flt.limit)
                .offset(flt.offset)
            )
            return [dict(r._mapping) for r in rows], int(total.scalar_one())

    def export_csv(self, flt: AuditFilter) -> Iterator[str]:
        """The matching rows as CSV text, in chain order, streamed in chunks."""
        columns = [c.name for c in audit_log.c]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        with self.database.read() as conn:
            stmt = select(audit_log).where(*_clauses(flt)).order_by(audit_log.c.seq)
            for row in conn.execute(stmt):
                writer.writerow([_cell(row._mapping[c]) for c in columns])
                if buffer.tell() > 64_000:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    def verify(self) -> ChainCheck:
        """Recompute the chain; the first row whose hash or link does not match is reported."""
        count = 0
        prev: str | None = None
        with self.database.read() as conn:
            for row in conn.execute(select(audit_log).order_by(audit_log.c.seq)):
                values = row._mapping
                # After a retention purge the oldest kept row anchors the chain.
                expected_prev = values["prev_hash"] if prev is None else prev
                if values["prev_hash"] != expected_prev or values["row_hash"] != row_hash(
                    expected_prev, dict(values)
                ):
                    return ChainCheck(False, count, values["seq"])
                prev = values["row_hash"]
                count += 1
        return ChainCheck(True, count)

    def purge_before(self, cutoff_us: int) -> int:
        """Delete rows older than the retention cutoff; how many went."""

        def job(conn: Connection) -> int:
            result = conn.execute(delete(audit_log).where(audit_log.c.at < cutoff_us))
            return int(result.rowcount)

        return self.database.run_write(job)


def _cell(value: Any) -> Any:
    """Neutralise text a spreadsheet would run as a formula (actors are typed by anyone)."""
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value
    return value


def _last_hash(conn: Connection) -> str:
    last = conn.execute(
        select(audit_log.c.row_hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).scalar()
    return str(last) if last else GENESIS


def _clauses(flt: AuditFilter) -> list[Any]:
    clauses: list[Any] = []
    if flt.actor:
        clauses.append(audit_log.c.actor == flt.actor)
    if flt.action:
        clauses.append(audit_log.c.action == flt.action)
    if flt.outcome:
        clauses.append(audit_log.c.outcome == flt.outcome)
    if flt.resource_prefix:
        clauses.append(audit_log.c.resource.startswith(flt.resource_prefix, autoescape=True))
    if flt.since is not None:
        clauses.append(audit_log.c.at >= flt.since)
    if flt.until is not None:
        clauses.append(audit_log.c.at < flt.until)
    return clauses
