"""Rule evaluation: evaluations per second, and the time from a crossing reading to its alert.

Runs the platform app in-process on a scratch database (SQLite by default, `--backend
postgresql` on a scratch PostgreSQL database, `--backend both`), with `--rules` threshold
rules on `--entities` WaterObserved gauges:

1. throughput: batches of readings written through the NGSI-LD batch upsert, while the leader's
   change feed evaluates every rule on every changed gauge; reports evaluations/s;
2. latency: `--crossings` single PATCHes that cross a rule's line, each timed from the
   request to the `alert.opened` event on the bus (the moment the SSE stream and the
   notification outbox have it); reports p50/p95/p99/max.

    .venv/bin/python benchmarks/rules.py [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers import scratch_pg_database

from smartcity.app import create_app
from smartcity.config import Settings
from smartcity.core.db import Database, open_database
from smartcity.core.events import Event
from smartcity.core.migrate import upgrade


def rule(index: int) -> dict[str, Any]:
    """A threshold rule; rule i watches gauges whose id ends in i modulo 10 (so every
    gauge is watched by `rules / 10` rules, like per-district rules)."""
    return {
        "id": f"bench-{index}",
        "name": f"bench {index}",
        "entity_type": "WaterObserved",
        "id_pattern": f"urn:ngsi-ld:WaterObserved:g\\d*{index % 10}",
        "condition": {"threshold": {"attribute": "waterLevel", "op": ">=", "value": 100.0 + index}},
        "severity": "low",
        "category": "bench",
    }


def gauge(i: int, level: float) -> dict[str, Any]:
    """A WaterObserved entity with a level."""
    return {
        "id": f"urn:ngsi-ld:WaterObserved:g{i}",
        "type": "WaterObserved",
        "waterLevel": {"type": "Property", "value": level},
    }


def run(database: Database, data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Both measurements on one database."""
    app = create_app(Settings(data_dir=data_dir, feed_poll_s=0.05), database=database)
    key = app.state.auth.service.create_api_key("bench", "operator").key
    opened: dict[str, float] = {}
    seen = threading.Event()

    def on_open(event: Event) -> None:
        opened[event.data["subject_id"]] = time.perf_counter()
        seen.set()

    app.state.events.subscribe("alert.opened", on_open)
    with TestClient(app, headers={"X-API-Key": key}) as http:
        while not app.state.leadership.is_leader:
            time.sleep(0.01)
        for index in range(args.rules):
            assert http.post("/api/rules", json=rule(index)).status_code == 201
        engine = app.state.alerting.engine
        engine.refresh(force=True)
        upsert = "/ngsi-ld/v1/entityOperations/upsert"
        for start in range(0, args.entities, 500):
            batch = [gauge(i, 1.0) for i in range(start, min(args.entities, start + 500))]
            assert http.post(upsert, json=batch).status_code in (201, 204)
        _settle(engine)
        before, started = engine.evaluations, time.perf_counter()
        for round_ in range(args.rounds):
            for start in range(0, args.entities, 500):
                end = min(args.entities, start + 500)
                batch = [gauge(i, 1.0 + round_ * 0.01) for i in range(start, end)]
                assert http.post(f"{upsert}?options=update", json=batch).status_code in (201, 204)
        _settle(engine)
        elapsed = time.perf_counter() - started
        evaluations = engine.evaluations - before
        latencies = []
        for crossing in range(args.crossings):
            target = gauge(crossing, 0.0)["id"]
            sent = time.perf_counter()
            patch = {"waterLevel": {"type": "Property", "value": 1000.0}}
            assert http.patch(f"/ngsi-ld/v1/entities/{target}/attrs", json=patch).status_code == 204
            deadline = sent + 10
            while target not in opened and time.perf_counter() < deadline:
                seen.wait(0.01)
                seen.clear()
            latencies.append((opened.get(target, float("inf")) - sent) * 1000)
    return {
        "evaluations": evaluations,
        "per_s": evaluations / elapsed,
        "updates_per_s": args.entities * args.rounds / elapsed,
        "latencies": sorted(latencies),
    }


def _settle(engine: Any) -> None:
    """Wait until the rule engine has caught up with the feed."""
    last, still = -1, 0
    while still < 5:
        time.sleep(0.1)
        still = still + 1 if engine.evaluations == last else 0
        last = engine.evaluations


def main() -> None:
    """Run and print the results table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--entities", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--crossings", type=int, default=50)
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(
        f"\n{args.rules} rules, {args.entities} gauges (each watched by {args.rules // 10} rules),"
        f" {args.rounds} rounds of updates, {args.crossings} timed crossings\n"
    )
    print("| backend | updates/s | rule evaluations/s | crossing → alert p50 | p95 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for backend in backends:
        result = _on(backend, args)
        lat = result["latencies"]
        p = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else lat * 99
        print(
            f"| {backend} | {result['updates_per_s']:,.0f} | {result['per_s']:,.0f} | "
            f"{p[49]:.0f} ms | {p[94]:.0f} ms | {p[98]:.0f} ms | {lat[-1]:.0f} ms |"
        )


def _on(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "sqlite":
            database = open_database(f"sqlite:///{tmp}/bench.db")
            upgrade(database)
            try:
                return run(database, Path(tmp), args)
            finally:
                database.dispose()
        with scratch_pg_database("smartcity_bench_rules") as url:
            database = open_database(url)
            upgrade(database)
            try:
                return run(database, Path(tmp), args)
            finally:
                database.dispose()


if __name__ == "__main__":
    main()
