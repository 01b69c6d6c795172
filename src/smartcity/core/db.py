"""SQLAlchemy engines for the embedded (SQLite) and server (PostgreSQL) backends."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import QueuePool


def json_dumps(value: Any) -> str:
    """Serialize JSON for the database columns (orjson is several times faster than json)."""
    return orjson.dumps(value).decode()


@dataclass
class Database:
    """A reader engine and a writer engine over one database.

    SQLite allows one writer at a time: a one-connection writer pool makes
    threads of this process queue in Python instead of spinning on SQLITE_BUSY,
    and BEGIN IMMEDIATE takes the write lock up front so read-modify-write
    transactions never deadlock on lock upgrade.
    """

    url: str
    reader: Engine
    writer: Engine

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.reader.dialect.name

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction."""
        with self.reader.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed on success."""
        with self.writer.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.reader.dispose()
        if self.writer is not self.reader:
            self.writer.dispose()


def open_database(url: str) -> Database:
    """Open the database at `url` (sqlite:/// or postgresql+psycopg://)."""
    if url.startswith("sqlite"):
        return _open_sqlite(url)
    engine = create_engine(
        url,
        json_serializer=json_dumps,
        json_deserializer=orjson.loads,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
    )
    return Database(url=url, reader=engine, writer=engine)


def _open_sqlite(url: str) -> Database:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    common: dict[str, Any] = {
        "json_serializer": json_dumps,
        "json_deserializer": orjson.loads,
        "connect_args": {"check_same_thread": False, "timeout": 30},
        "poolclass": QueuePool,
    }
    reader = create_engine(url, pool_size=8, max_overflow=8, **common)
    writer = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=60, **common)
    _configure_sqlite(reader, begin="BEGIN")
    _configure_sqlite(writer, begin="BEGIN IMMEDIATE")
    return Database(url=url, reader=reader, writer=writer)


def _configure_sqlite(engine: Engine, begin: str) -> None:
    """Take over transaction control from pysqlite and set WAL pragmas."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across application crashes in WAL mode;
        # FULL only adds safety against power loss, at a large write cost.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)
