"""Leadership (one leader, takeover, deposition) and the scheduler it gates."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from smartcity.core.db import Database, open_database
from smartcity.core.jobs import Job, Leadership, Scheduler, lock_key
from tests.servers import PG_ADMIN_URL, scratch_pg_database

RETRY_S = 0.2


def _wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class Contender:
    """A Leadership with a record of its elections and depositions."""

    def __init__(self, database: Database, name: str, **options: object) -> None:
        self.leadership = Leadership(database, name=name, retry_s=RETRY_S, **options)  # type: ignore[arg-type]
        self.events: list[str] = []
        self.leadership.on_elected(lambda: self.events.append("elected"))
        self.leadership.on_deposed(lambda: self.events.append("deposed"))

    @property
    def leads(self) -> bool:
        return self.leadership.is_leader


@pytest.fixture
def contenders() -> Iterator[Callable[[Database, str], Contender]]:
    """Makes started contenders and stops them all afterwards."""
    made: list[Contender] = []

    def make(database: Database, name: str, **options: object) -> Contender:
        contender = Contender(database, name, **options)
        contender.leadership.start()
        made.append(contender)
        return contender

    yield make
    for contender in made:
        contender.leadership.stop()


@pytest.fixture
def sqlite_dbs(tmp_path: Path) -> Iterator[tuple[Database, Database]]:
    """Two Database objects on one SQLite file, as two workers would open it."""
    url = f"sqlite:///{tmp_path}/smartcity.db"
    first, second = open_database(url), open_database(url)
    yield first, second
    first.dispose()
    second.dispose()


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """An empty scratch PostgreSQL database: leadership needs no tables."""
    with scratch_pg_database("smartcity_jobs") as url:
        yield url


@pytest.fixture
def pg_dbs(pg_url: str) -> Iterator[tuple[Database, Database]]:
    """Two Database objects on one PostgreSQL database, as two processes would open it."""
    first, second = open_database(pg_url), open_database(pg_url)
    yield first, second
    first.dispose()
    second.dispose()


def _one_leader_then_takeover(
    make: Callable[..., Contender], dbs: tuple[Database, Database], name: str
) -> tuple[Contender, Contender]:
    """Start two contenders: exactly one leads, stays leader, and hands over on stop."""
    a, b = make(dbs[0], name), make(dbs[1], name)
    assert _wait_for(lambda: a.leads or b.leads)
    time.sleep(5 * RETRY_S)  # several rounds of the follower trying
    assert a.leads != b.leads
    leader, follower = (a, b) if a.leads else (b, a)
    assert leader.events == ["elected"] and follower.events == []
    leader.leadership.stop()
    assert leader.events == ["elected", "deposed"] and not leader.leads
    assert _wait_for(lambda: follower.leads, timeout_s=5 * RETRY_S + 2)
    assert follower.events == ["elected"]
    return leader, follower


def test_sqlite_one_leader_and_takeover(
    contenders: Callable[..., Contender], sqlite_dbs: tuple[Database, Database], tmp_path: Path
) -> None:
    _one_leader_then_takeover(contenders, sqlite_dbs, "test-leader")
    assert (tmp_path / "test-leader.lock").exists()  # next to the database file


def test_sqlite_lock_dir_and_names_are_separate(
    contenders: Callable[..., Contender], sqlite_dbs: tuple[Database, Database], tmp_path: Path
) -> None:
    locks = tmp_path / "locks"
    a = contenders(sqlite_dbs[0], "alpha", lock_dir=locks)
    b = contenders(sqlite_dbs[1], "beta", lock_dir=locks)
    assert _wait_for(lambda: a.leads and b.leads)  # different names: both lead
    assert sorted(p.name for p in locks.iterdir()) == ["alpha.lock", "beta.lock"]


def test_sqlite_deleted_lock_file_deposes(
    contenders: Callable[..., Contender], sqlite_dbs: tuple[Database, Database], tmp_path: Path
) -> None:
    a = contenders(sqlite_dbs[0], "fragile")
    assert _wait_for(lambda: a.leads)
    (tmp_path / "fragile.lock").unlink()  # now another process could lock a new file
    assert _wait_for(lambda: "deposed" in a.events)
    assert _wait_for(lambda: a.leads, timeout_s=5 * RETRY_S + 2)  # and takes the new one


@pytest.mark.postgres
def test_postgres_one_leader_and_takeover(
    contenders: Callable[..., Contender], pg_dbs: tuple[Database, Database]
) -> None:
    _one_leader_then_takeover(contenders, pg_dbs, f"test-{uuid.uuid4().hex}")


def _lock_holder(name: str) -> int | None:
    """The backend pid holding the advisory lock of `name` (a bigint key: two halves)."""
    key = lock_key(name) & 0xFFFF_FFFF_FFFF_FFFF
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return conn.execute(
                sa.text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND classid = :high AND objid = :low AND objsubid = 1"
                ),
                {"high": key >> 32, "low": key & 0xFFFF_FFFF},
            ).scalar()
    finally:
        admin.dispose()


def _terminate(pid: int) -> None:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            # Waits (up to 5 s) for the backend to be gone, so its lock is released.
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_postgres_terminated_backend_deposes_and_the_other_is_elected(
    contenders: Callable[..., Contender], pg_dbs: tuple[Database, Database]
) -> None:
    name = f"test-{uuid.uuid4().hex}"
    a, b = contenders(pg_dbs[0], name), contenders(pg_dbs[1], name)
    assert _wait_for(lambda: a.leads or b.leads)
    leader, follower = (a, b) if a.leads else (b, a)
    pid = _lock_holder(name)
    assert pid is not None
    _terminate(pid)
    assert _wait_for(lambda: leader.events == ["elected", "deposed"])
    assert _wait_for(lambda: follower.leads, timeout_s=5 * RETRY_S + 2)
    time.sleep(5 * RETRY_S)  # the old leader reconnects and keeps trying, in vain
    assert follower.leads and not leader.leads
    assert _lock_holder(name) not in (None, pid)


# --- the scheduler ---


class Counter:
    """A job body counting its runs (and, optionally, failing each time)."""

    def __init__(self, fail: bool = False, sleep_s: float = 0.0) -> None:
        self.runs = 0
        self.fail = fail
        self.sleep_s = sleep_s
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.runs += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(self.sleep_s)
        with self._lock:
            self.running -= 1
        if self.fail:
            raise RuntimeError("job failure for the test")


@pytest.fixture
def schedulers() -> Iterator[Callable[..., Scheduler]]:
    """Makes started schedulers and stops them afterwards."""
    made: list[Scheduler] = []

    def make(leadership: Leadership | None = None, *jobs: Job) -> Scheduler:
        scheduler = Scheduler(leadership)
        for job in jobs:
            scheduler.add(job)
        scheduler.start()
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.stop()


def _every(ms: int) -> timedelta:
    return timedelta(milliseconds=ms)


def test_scheduler_runs_jobs_only_while_leader(
    contenders: Callable[..., Contender],
    schedulers: Callable[..., Scheduler],
    sqlite_dbs: tuple[Database, Database],
) -> None:
    a = contenders(sqlite_dbs[0], "sched")
    assert _wait_for(lambda: a.leads)
    b = contenders(sqlite_dbs[1], "sched")
    on_a, on_b = Counter(), Counter()
    schedulers(a.leadership, Job("sweep", _every(50), on_a))
    schedulers(b.leadership, Job("sweep", _every(50), on_b))
    assert _wait_for(lambda: on_a.runs >= 5)
    assert on_b.runs == 0
    a.leadership.stop()
    assert _wait_for(lambda: on_b.runs >= 3, timeout_s=5 * RETRY_S + 2)
    runs_of_a = on_a.runs
    time.sleep(0.3)
    assert on_a.runs == runs_of_a  # the deposed process runs nothing any more


def test_a_failing_job_does_not_stop_the_scheduler(schedulers: Callable[..., Scheduler]) -> None:
    failing, fine = Counter(fail=True), Counter()
    schedulers(None, Job("failing", _every(30), failing), Job("fine", _every(30), fine))
    assert _wait_for(lambda: failing.runs >= 3 and fine.runs >= 3)


def test_a_slow_job_never_overlaps_itself(schedulers: Callable[..., Scheduler]) -> None:
    slow = Counter(sleep_s=0.1)
    schedulers(None, Job("slow", _every(10), slow))
    assert _wait_for(lambda: slow.runs >= 4)
    assert slow.most_at_once == 1


def test_jobs_run_at_their_period_and_async_jobs_are_awaited(
    schedulers: Callable[..., Scheduler],
) -> None:
    ran: list[str] = []

    async def async_job() -> None:
        ran.append("async")

    periodic = Counter()
    scheduler = schedulers(None, Job("periodic", _every(200), periodic))
    scheduler.add(Job("async", timedelta(hours=1), async_job))
    assert _wait_for(lambda: ran == ["async"] and periodic.runs >= 1)
    time.sleep(0.5)
    assert 2 <= periodic.runs <= 5  # first at once, then every 0.2 s
    with pytest.raises(ValueError, match="already scheduled"):
        scheduler.add(Job("periodic", _every(200), periodic))
    with pytest.raises(ValueError, match="positive"):
        scheduler.add(Job("never", timedelta(0), periodic))
