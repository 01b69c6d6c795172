"""Leadership among the processes sharing a database, and the scheduler of periodic jobs.

Several uvicorn workers (or machines) run the same code; work that must happen once (the
device sweep, retention, the change-feed reader) runs only in the leader. PostgreSQL
elects it with a session advisory lock, SQLite (workers on one machine) with a file lock
next to the database file. Either lock goes away with its holder, so a crashed leader is
replaced within a few retry periods.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import psycopg
from sqlalchemy import make_url

from smartcity.core.db import Database
from smartcity.core.registry import Job

__all__ = ["Job", "Leadership", "Scheduler", "lock_key"]

log = logging.getLogger(__name__)

#: Seconds the scheduler sleeps between leadership checks while it is not the leader
#: (an election wakes it at once anyway).
IDLE_S = 1.0


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for `name` (the same in every process)."""
    # hash() is salted per process; a digest is the same everywhere.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class _Lock(Protocol):
    def acquire(self) -> bool: ...  # one non-blocking try

    def held(self) -> bool: ...  # still ours (cheap)

    def release(self) -> None: ...


class _AdvisoryLock:
    """A PostgreSQL session advisory lock on a connection of its own, outside the pool."""

    def __init__(self, database: Database, key: int) -> None:
        engine = database.writer
        # The engine's own translation of its URL, so host, port and options all match;
        # a pooled connection would go back to the pool still holding the lock.
        _, kwargs = engine.dialect.create_connect_args(engine.url)
        self._connect_kwargs: dict[str, Any] = dict(kwargs)
        self._connect_kwargs.pop("context", None)  # the engine's JSON adapters: not needed
        self._key = key
        self._conn: psycopg.Connection[Any] | None = None

    def acquire(self) -> bool:
        """Try the lock once; a broken connection is dropped and reopened next time."""
        try:
            conn = self._conn or self._connect()
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        except psycopg.Error:
            self._drop()
            raise
        return bool(row and row[0])

    def held(self) -> bool:
        """The session lock lives as long as the connection: a live connection holds it."""
        if self._conn is None:
            return False
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error:
            self._drop()
            return False
        return True

    def release(self) -> None:
        """Unlock and close (closing alone would unlock too)."""
        if self._conn is not None:
            # A failure means the connection is gone, and the lock with it.
            with contextlib.suppress(psycopg.Error):
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        self._drop()

    def _connect(self) -> psycopg.Connection[Any]:
        self._conn = psycopg.connect(
            **self._connect_kwargs,
            autocommit=True,
            application_name="smartcity-leader",
            connect_timeout=10,
            # A vanished network must break the connection (and the leadership) in seconds,
            # not after the kernel's default two hours.
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
            tcp_user_timeout=10_000,
        )
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


class _FileLock:
    """An exclusive flock on a file: the processes of one machine sharing a SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Try the lock once, without blocking."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # for a human wondering who leads
        return True

    def held(self) -> bool:
        """Ours while the file at the path is still the one we locked (never deleted)."""
        if self._fd is None:
            return False
        try:
            return os.stat(self.path).st_ino == os.fstat(self._fd).st_ino
        except OSError:
            return False

    def release(self) -> None:
        """Unlock and close; the file stays (deleting it would let two processes lock)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _lock_for(database: Database, name: str, lock_dir: Path | None) -> _Lock:
    if database.dialect == "postgresql":
        return _AdvisoryLock(database, lock_key(name))
    path = make_url(database.url).database or ""
    if lock_dir is not None:
        return _FileLock(lock_dir / f"{name}.lock")
    if path and path != ":memory:":
        return _FileLock(Path(path).resolve().parent / f"{name}.lock")
    # An in-memory database is this process's alone, and so is its leadership.
    return _FileLock(Path(tempfile.gettempdir()) / f"{name}-{os.getpid()}.lock")


class Leadership:
    """Exactly one leader among the processes sharing a database."""

    def __init__(
        self,
        database: Database,
        name: str = "smartcity-leader",
        retry_s: float = 2.0,
        lock_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.retry_s = retry_s
        self._lock = _lock_for(database, name, lock_dir)
        self._leader = False
        self._elected: list[Callable[[], None]] = []
        self._deposed: list[Callable[[], None]] = []
        self._callbacks_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    @property
    def is_leader(self) -> bool:
        """Whether this process holds the leadership now."""
        return self._leader

    def on_elected(self, fn: Callable[[], None]) -> None:
        """Call `fn` (on the leadership thread) each time this process becomes leader."""
        with self._callbacks_lock:
            self._elected.append(fn)

    def on_deposed(self, fn: Callable[[], None]) -> None:
        """Call `fn` (on the leadership thread) each time this process stops being leader."""
        with self._callbacks_lock:
            self._deposed.append(fn)

    def start(self) -> None:
        """Start trying to become leader, and keep checking, on a background thread."""
        if self._thread is not None:
            raise RuntimeError("Leadership already started")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="smartcity-leadership", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Give the leadership up (calling on_deposed if held) and stop trying."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(timeout=30)
        self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._stopping.wait(self._step())
        self._lock.release()
        if self._leader:
            self._change(leader=False)

    def _step(self) -> float:
        """Try to become (or check still being) leader; the seconds until the next step."""
        if self._leader:
            if self._lock.held():
                return self.retry_s
            log.warning("leadership %s lost (lock connection or file gone)", self.name)
            self._lock.release()
            self._change(leader=False)
            # A deposed process steps back a while so a healthy peer can take over.
            return 2 * self.retry_s
        if self._try_acquire():
            self._change(leader=True)
        return self.retry_s

    def _try_acquire(self) -> bool:
        try:
            acquired = self._lock.acquire()
        except Exception as error:
            # Logged once per outage, not every retry.
            if not self._failing:
                log.warning("leadership %s: cannot try the lock (%r)", self.name, error)
            self._failing = True
            return False
        self._failing = False
        return acquired

    def _change(self, leader: bool) -> None:
        self._leader = leader
        log.info("leadership %s: %s", self.name, "elected" if leader else "deposed")
        with self._callbacks_lock:
            callbacks = list(self._elected if leader else self._deposed)
        for fn in callbacks:
            try:
                fn()
            except Exception:
                log.exception("leadership %s callback failed", self.name)


@dataclass
class _Scheduled:
    job: Job
    due: float  # time.monotonic() of the next run


class Scheduler:
    """Runs each job every `job.every` on one background thread, only while leader."""

    def __init__(self, leadership: Leadership | None = None) -> None:
        self.leadership = leadership
        self._jobs: dict[str, _Scheduled] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        if leadership is not None:
            # A new leader runs its overdue jobs at once instead of after its idle sleep.
            leadership.on_elected(self._wake.set)

    def add(self, job: Job) -> None:
        """Schedule `job`: first run as soon as this process may run jobs, then every `every`."""
        if job.every <= timedelta(0):
            raise ValueError(f"job {job.name}: every must be positive")
        with self._lock:
            if job.name in self._jobs:
                raise ValueError(f"job {job.name} already scheduled")
            self._jobs[job.name] = _Scheduled(job, time.monotonic())
        self._wake.set()

    def start(self) -> None:
        """Start the scheduler thread (the Leadership, if any, is started by its owner)."""
        if self._thread is not None:
            raise RuntimeError("Scheduler already started")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="smartcity-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after the job running now, if any."""
        if self._thread is None:
            return
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=timeout_s)
        self._thread = None

    def _may_run(self) -> bool:
        if self._stopping.is_set():
            return False
        return self.leadership is None or self.leadership.is_leader

    def _loop(self) -> None:
        while not self._stopping.is_set():
            # Cleared before the tick: a wake-up during the tick is not lost.
            self._wake.clear()
            self._wake.wait(self._tick())

    def _tick(self) -> float:
        """Run the jobs that are due (while allowed); seconds until the next is due."""
        if not self._may_run():
            return IDLE_S
        now = time.monotonic()
        with self._lock:
            due = sorted((s for s in self._jobs.values() if s.due <= now), key=lambda s: s.due)
        for scheduled in due:
            if not self._may_run():  # deposed (or stopped) between two jobs
                return IDLE_S
            self._run(scheduled)
        with self._lock:
            next_due = min((s.due for s in self._jobs.values()), default=now + IDLE_S)
        return max(0.0, next_due - time.monotonic())

    def _run(self, scheduled: _Scheduled) -> None:
        """Run a job once; its failure is logged and it runs again at its next time."""
        job = scheduled.job
        started = time.monotonic()
        try:
            result = job.run()
            if asyncio.iscoroutine(result):  # an async job gets a loop of its own
                asyncio.run(result)
        except Exception:
            log.exception("job %s failed; next try in %s", job.name, job.every)
        # From its start, so the period holds; a job slower than its period runs back to
        # back, never twice at once (one thread runs them all).
        scheduled.due = max(started + job.every.total_seconds(), time.monotonic())
