"""SQLAlchemy engines for the embedded (SQLite) and server (PostgreSQL) backends."""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

import orjson
from sqlalchemy import JSON, BigInteger, Connection, Engine, Integer, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.pool import QueuePool

# SQLite makes an INTEGER PRIMARY KEY the rowid (fast); PostgreSQL gets a bigint.
BigPk = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")


def json_dumps(value: Any) -> str:
    """Serialize JSON for the database columns (orjson is several times faster than json)."""
    return orjson.dumps(value).decode()


log = logging.getLogger(__name__)
T = TypeVar("T")
S = TypeVar("S", bound="HasDatabase")
P = ParamSpec("P")
#: A unit of write work: runs inside a write transaction on the writer thread.
Job = Callable[[Connection], T]
#: Most jobs the writer commits together; bounds the time a batch holds the write lock.
MAX_GROUP = 64


class WriteQueue:
    """One writer thread per database that commits queued jobs in groups (group commit).

    Concurrent writers hand their job to this thread instead of each taking the write lock
    and committing: one transaction then carries many jobs. Should one fail (an unknown
    entity, say), the group is rerun with each job inside a SAVEPOINT, so the failure is
    undone alone. Callers get their result only after the commit, so a 204 still means the
    write is stored.
    """

    def __init__(
        self,
        begin: Callable[[], AbstractContextManager[Connection]],
        maintenance: Callable[[Connection], None] | None = None,
        maintenance_every_s: float = 30.0,
    ) -> None:
        self._begin = begin
        self._maintenance = maintenance
        self._maintenance_every_s = maintenance_every_s
        self._maintained_at = 0.0
        self._jobs: queue.SimpleQueue[tuple[Callable[[Connection], Any], Future[Any]] | None]
        self._jobs = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        #: Called on the writer thread after each group of jobs (readers of the change feed
        #: wake up at once instead of polling).
        self.after_commit: list[Callable[[], None]] = []

    def run(self, job: Callable[[Connection], T]) -> T:
        """Run `job` in a write transaction on the writer thread; return or raise its outcome."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("a write job cannot wait for another write job")
        return self.submit(job).result()

    def submit(self, job: Callable[[Connection], T]) -> Future[T]:
        """Queue `job` for the writer thread; its future resolves after the commit."""
        future: Future[T] = Future()
        self._ensure_thread()
        self._jobs.put((job, future))
        return future

    def close(self) -> None:
        """Stop the writer thread after the jobs already queued."""
        with self._lock:
            if self._thread is not None:
                self._jobs.put(None)
                self._thread.join(timeout=30)
                self._thread = None

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="smartcity-writer", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_GROUP:
                try:
                    item = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._jobs.put(None)  # stop after this batch
                    break
                batch.append(item)
            # A job whose caller gave up (cancelled) is dropped before it runs; the rest go on.
            live = [(job, future) for job, future in batch if future.set_running_or_notify_cancel()]
            if live:
                try:
                    self._commit(live)
                except BaseException as error:
                    _fail_all(live, error)
                for listener in self.after_commit:
                    listener()
                self._maintain()

    def _maintain(self) -> None:
        """Between batches, refresh planner statistics while the data keeps changing."""
        now = time.monotonic()
        if self._maintenance is None or now - self._maintained_at < self._maintenance_every_s:
            return
        self._maintained_at = now
        try:
            with self._begin() as conn:
                self._maintenance(conn)
        except Exception:
            log.exception("database maintenance failed; writes go on")

    def _commit(self, batch: list[tuple[Callable[[Connection], Any], Future[Any]]]) -> None:
        if len(batch) == 1:
            self._commit_alone(*batch[0])
            return
        # Optimistic first: the whole group in one transaction, no savepoints. Jobs only
        # touch the database and their own inputs, so if one fails the group is rolled
        # back and run again with a savepoint around each job.
        try:
            with self._begin() as conn:
                results = [job(conn) for job, _ in batch]
        except Exception:
            self._commit_isolated(batch)
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)

    def _commit_isolated(
        self, batch: list[tuple[Callable[[Connection], Any], Future[Any]]]
    ) -> None:
        outcomes: list[tuple[Future[Any], Any, Exception | None]] = []
        try:
            with self._begin() as conn:
                for job, future in batch:
                    outcomes.append((future, *_in_savepoint(conn, job)))
        except Exception as error:  # the commit failed: nothing of the group is stored
            _fail_all(batch, error)
            return
        for future, result, job_error in outcomes:
            if job_error is None:
                future.set_result(result)
            else:
                future.set_exception(job_error)

    def _commit_alone(self, job: Callable[[Connection], Any], future: Future[Any]) -> None:
        try:
            with self._begin() as conn:
                result = job(conn)
        except Exception as error:
            future.set_exception(error)
            return
        future.set_result(result)


def _fail_all(
    batch: list[tuple[Callable[[Connection], Any], Future[Any]]], error: BaseException
) -> None:
    """Hand `error` to every caller of the batch that has no outcome yet."""
    for _, future in batch:
        if not future.done():
            future.set_exception(error)


def _in_savepoint(
    conn: Connection, job: Callable[[Connection], Any]
) -> tuple[Any, Exception | None]:
    """Run one job of a group inside a savepoint, so its failure undoes only its own work."""
    savepoint = conn.begin_nested()
    try:
        result = job(conn)
    except Exception as error:
        savepoint.rollback()
        return None, error
    savepoint.commit()
    return result, None


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
    _writes: WriteQueue = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # PostgreSQL's autovacuum analyzes too; the writer only helps after bulk loads.
        every = 30.0 if self.dialect == "sqlite" else 300.0
        self._writes = WriteQueue(self.write, maintenance=self.analyze, maintenance_every_s=every)

    def analyze(self, conn: Connection) -> None:
        """Refresh the query planner's statistics (both planners choose plans by them)."""
        if self.dialect == "sqlite":
            # A sampled ANALYZE: milliseconds even on millions of rows.
            conn.exec_driver_sql("PRAGMA analysis_limit=1000")
            conn.exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE entities, attr_index")

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

    def run_write(self, job: Callable[[Connection], T]) -> T:
        """Run `job(conn)` in a write transaction shared with concurrent writers (group commit)."""
        return self._writes.run(job)

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call `listener` (quick, non-blocking) after each write group this process commits."""
        self._writes.after_commit.append(listener)

    def submit_write(self, job: Callable[[Connection], T]) -> Future[T]:
        """Queue `job` for the writer and return its future at once."""
        return self._writes.submit(job)

    async def write_async(self, job: Callable[[Connection], T]) -> T:
        """Like run_write, awaited from the event loop without tying up a worker thread."""
        return await asyncio.wrap_future(self._writes.submit(job))

    def dispose(self) -> None:
        """Stop the writer thread and close every pooled connection."""
        self._writes.close()
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
        # No server-side prepared statements: their generic plans ignore the values of a
        # query (a spatial box, a selective q) and walk whole tables; custom plans do not.
        connect_args={"prepare_threshold": None},
    )
    return Database(url=url, reader=engine, writer=engine)


def _sqlite_json_loads(value: str | bytes | float) -> Any:
    """Decode a JSON column; SQLite hands a bare JSON number back as a number already."""
    if isinstance(value, int | float):
        return value
    return orjson.loads(value)


def _open_sqlite(url: str) -> Database:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    common: dict[str, Any] = {
        "json_serializer": json_dumps,
        "json_deserializer": _sqlite_json_loads,
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


class HasDatabase(Protocol):
    """Anything with a `database` (the services whose writes go through the writer)."""

    database: Database


class WriteOperation(Generic[S, P, T]):
    """A service method that builds a write Job; callable plainly (blocking) or awaited.

    `broker.update_attrs(...)` runs the job and returns its result;
    `await broker.update_attrs.run_async(...)` does the same from the event loop, handing the
    job straight to the writer thread (no worker thread waits on it).
    """

    def __init__(self, build: Callable[Concatenate[S, P], Job[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> WriteOperation[S, P, T]: ...

    @overload
    def __get__(self, instance: S, owner: type[Any]) -> BoundWrite[P, T]: ...

    def __get__(
        self, instance: S | None, owner: type[Any]
    ) -> WriteOperation[S, P, T] | BoundWrite[P, T]:
        if instance is None:
            return self
        return BoundWrite(instance.database, functools.partial(self.build, instance))


class BoundWrite(Generic[P, T]):
    """A WriteOperation bound to its service."""

    def __init__(self, database: Database, build: Callable[P, Job[T]]) -> None:
        self.database = database
        self.build = build

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run the write and return its result (blocks the calling thread)."""
        return self.database.run_write(self.build(*args, **kwargs))

    async def run_async(self, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run the write from the event loop."""
        return await self.database.write_async(self.build(*args, **kwargs))


def write_operation(build: Callable[Concatenate[S, P], Job[T]]) -> WriteOperation[S, P, T]:
    """Decorate a method that returns a write Job (see WriteOperation)."""
    return WriteOperation(build)
