"""The group-commit writer: many concurrent jobs, failures isolated, results after commit."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import Connection, text

from smartcity.core.db import Database


def _count(database: Database) -> int:
    with database.read() as conn:
        return int(conn.execute(text("SELECT count(*) FROM entities")).scalar_one())


def _insert(entity_id: str, *, fail: bool = False):  # type: ignore[no-untyped-def]
    def job(conn: Connection) -> str:
        conn.execute(
            text(
                "INSERT INTO entities (id, type, attrs, created_at, modified_at) "
                "VALUES (:id, 'T', '{}', 0, 0)"
            ),
            {"id": entity_id},
        )
        if fail:
            raise ValueError(f"job {entity_id} fails after writing")
        return entity_id

    return job


def test_concurrent_jobs_all_commit_and_failures_stay_alone(database: Database) -> None:
    results: dict[int, object] = {}

    def worker(index: int) -> None:
        try:
            results[index] = database.run_write(_insert(f"urn:x:{index}", fail=index % 5 == 0))
        except ValueError as error:
            results[index] = error

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = [i for i, r in results.items() if isinstance(r, ValueError)]
    assert sorted(failed) == list(range(0, 40, 5))
    assert all(results[i] == f"urn:x:{i}" for i in range(40) if i % 5)
    # The failing jobs' own inserts were undone; everyone else's are stored.
    assert _count(database) == 32


def test_a_lone_failing_job_leaves_nothing(database: Database) -> None:
    with pytest.raises(ValueError, match="fails after writing"):
        database.run_write(_insert("urn:x:alone", fail=True))
    assert _count(database) == 0


def test_write_async_from_the_event_loop(database: Database) -> None:
    async def main() -> list[str]:
        return await asyncio.gather(
            *(database.write_async(_insert(f"urn:y:{i}")) for i in range(20))
        )

    assert sorted(asyncio.run(main())) == sorted(f"urn:y:{i}" for i in range(20))
    assert _count(database) == 20


def test_a_job_cannot_wait_for_another(database: Database) -> None:
    def nested(conn: Connection) -> None:
        database.run_write(_insert("urn:x:inner"))

    with pytest.raises(RuntimeError, match="cannot wait"):
        database.run_write(nested)


def test_statistics_refresh_runs_on_the_writer(database: Database) -> None:
    database.run_write(_insert("urn:x:stats"))
    database.run_write(database.analyze)  # what the writer does between batches
    assert _count(database) == 1
