"""Benchmark of the NGSI-LD context broker over HTTP, on SQLite and on PostgreSQL.

For each backend this starts `smartcity run --no-demo` as a subprocess on a free port,
seeds data through the Python API, measures over HTTP, stops the server and prints a
markdown table (also written to benchmarks/results/broker-<backend>.md):

(a) PATCH /entities/{id}/attrs, 16 concurrent asyncio + httpx clients, ~10 s, spread
    over 1,000 entities: req/s, p50/p95.
(b) batch upsert of 1,000 entities x 10 numeric attributes per request, over HTTP
    (create, replace, options=update) and through the Python API: attribute values/s.
(c) GET /entities by type + q (a broad and a selective q) at each size, one sequential
    client: p50/p95.
(d) geo-query near;maxDistance==500 around random points of Can Tho's urban core.
(e) aggregated temporal query (avg,min,max,sum,totalCount per day) over one year of
    5-minute values of one attribute (105,120 instances).

Writes need credentials: before the server starts, an integrator API key is created on the
same database with `smartcity keys create`, and every request of the benchmark (both load
generators and the sequential client) sends it as `X-API-Key`. So each request pays the
key lookup, and each write also the audit row the server commits before answering.

The server's memory (VmRSS, VmHWM) is read from /proc after each phase, and its CPU
use, the load generator's and the whole machine's during each measurement, so that
one can tell who is saturated.  Run `python benchmarks/broker.py --help` for options.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import httpx
import orjson

from smartcity.config import normalize_database_url
from smartcity.core.context import model
from smartcity.core.context.jsonld import ContextResolver
from smartcity.core.context.repository import HistoryRow, append_history
from smartcity.core.context.service import ContextBroker
from smartcity.core.context.times import format_us, now_us, parse_datetime_us
from smartcity.core.db import Database, open_database

ROOT = Path(__file__).resolve().parent.parent
API = "/ngsi-ld/v1"
JSON_HEADERS = {"Content-Type": "application/json"}
API_KEY_HEADER = "X-API-Key"
API_KEY_NAME = "benchmark"
# Cần Thơ's urban core: lon min, lat min, lon max, lat max.
BOX = (105.70, 9.98, 105.82, 10.08)
FLOW = "TrafficFlowObserved"
METER = "BenchMeter"
HISTORY_ID = "urn:ngsi-ld:TrafficFlowObserved:cantho-history"
HISTORY_YEAR = 2025  # not a leap year: 365 days x 288 five-minute slots = 105,120 values
FIVE_MIN_US = 300 * 1_000_000
DAY_US = 86_400 * 1_000_000
PATCH_ENTITIES = 1000
UPSERT_ENTITIES = 1000
UPSERT_ATTRS = 10


def flow_id(index: int) -> str:
    """Id of the index-th seeded traffic-flow entity."""
    return f"urn:ngsi-ld:TrafficFlowObserved:cantho-{index:07d}"


# --- settings and results ------------------------------------------------------------------


@dataclass
class Config:
    """What to run (from the command line)."""

    backends: list[str]
    sizes: list[int]
    quick: bool
    workers: int
    clients: int
    duration_s: float
    loadgen_procs: int
    loadgen: str
    only: str
    queries: int
    temporal_queries: int
    temporal_days: int
    upsert_rounds: int
    series_cap_s: float
    seed_batch: int
    quiet_wait_s: float
    pg_url: str
    keep: bool
    results_dir: Path
    command: str


@dataclass
class Row:
    """One line of the results table."""

    bench: str
    entities: str
    throughput: str
    p50: str = ""
    p95: str = ""
    n: str = ""
    target: str = ""
    verdict: str = ""
    notes: str = ""


@dataclass
class Report:
    """Everything measured on one backend."""

    backend: str
    rows: list[Row] = field(default_factory=list)
    seeding: list[list[str]] = field(default_factory=list)
    memory: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Series:
    """Latencies (seconds) of a run of requests."""

    latencies: list[float]
    errors: int
    elapsed_s: float
    capped: bool = False
    extra: dict[str, float] = field(default_factory=dict)

    def pct(self, q: float) -> float:
        """Nearest-rank percentile, in seconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return math.nan
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    """Seconds as milliseconds for the table."""
    if math.isnan(seconds):
        return "—"
    value = seconds * 1000
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 1000 else f"{value:,.0f}"


def verdict(ok: bool) -> str:
    """PASS or FAIL."""
    return "**PASS**" if ok else "**FAIL**"


# --- machine and process accounting ------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> list[int]:
    """`root` and its descendants (uvicorn workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each of these processes."""
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two snapshots (processes started meanwhile count in full)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot (all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def memory_mib(pids: list[int]) -> tuple[float, float]:
    """Summed VmRSS and VmHWM of these processes, in MiB."""
    rss = hwm = 0.0
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm += int(line.split()[1]) / 1024
    return rss, hwm


@dataclass
class CpuUse:
    """CPU used during a measurement, in % of one core."""

    server: float
    loadgen: float
    postgres: float | None
    machine: float

    def describe(self) -> str:
        """For the notes column."""
        known = self.server + self.loadgen + (self.postgres or 0.0)
        pg = f"PostgreSQL backends {self.postgres:.0f}%, " if self.postgres is not None else ""
        return (
            f"CPU (100% = 1 core): server {self.server:.0f}%, load gen {self.loadgen:.0f}%, "
            f"{pg}everything else {max(0.0, self.machine - known):.0f}% "
            f"(machine {self.machine:.0f}% of {os.cpu_count()} cores)"
        )


@contextmanager
def cpu_meter(server: Server, loadgen: list[float]) -> Iterator[list[CpuUse]]:
    """Measure CPU use of the server, this process (plus `loadgen` seconds of load-generator
    processes), the PostgreSQL backends of the benchmark database and the whole machine."""
    out: list[CpuUse] = []
    server0, pg0 = cpu_by_pid(server.pids()), cpu_by_pid(server.postgres_pids())
    own0, (busy0, _), t0 = time.process_time(), machine_busy(), _now()
    yield out
    wall = max(_now() - t0, 1e-9)
    own = (time.process_time() - own0) + sum(loadgen)
    busy = machine_busy()[0] - busy0
    server_s = cpu_delta(server0, cpu_by_pid(server.pids()))
    pg_s = cpu_delta(pg0, cpu_by_pid(server.postgres_pids()))
    out.append(
        CpuUse(
            server=100 * server_s / wall,
            loadgen=100 * own / wall,
            postgres=100 * pg_s / wall if server.database_url else None,
            machine=100 * busy / wall,
        )
    )


def _now() -> float:
    return time.perf_counter()


def wait_for_quiet(max_wait_s: float, threshold: float = 25.0) -> tuple[float, float]:
    """Wait up to `max_wait_s` until the machine is nearly idle (other sessions, checkpoints).

    Returns (seconds waited, machine busy % of one core over the last second).
    """
    started = _now()
    while True:
        busy0, t0 = machine_busy()[0], _now()
        time.sleep(1.0)
        busy = 100 * (machine_busy()[0] - busy0) / (_now() - t0)
        if busy < threshold or _now() - started >= max_wait_s:
            return _now() - started, busy


# --- the server under test -----------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def smartcity_command() -> list[str]:
    """The `smartcity` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "smartcity"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "smartcity.cli"]


class Server:
    """`smartcity run --no-demo` in a subprocess."""

    def __init__(self, data_dir: Path, database_url: str | None, workers: int) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.api_key = ""

    def _where(self) -> list[str]:
        """The database options, the same for the server and for the key made for it."""
        where = ["--data-dir", str(self.data_dir)]
        if self.database_url:
            where += ["--database-url", self.database_url]
        return where

    @staticmethod
    def _env() -> dict[str, str]:
        # A clean environment (and the scratch directory as working directory): no stray
        # .env or SMARTCITY_* variable may point the server at another database.
        return {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")}

    def create_api_key(self) -> str:
        """An integrator key on the server's database (`smartcity keys create`, which prints
        the key on its last line); kept as `api_key` and sent with every request."""
        cmd = [*smartcity_command(), "keys", "create", "--name", API_KEY_NAME, *self._where()]
        result = subprocess.run(
            cmd, capture_output=True, text=True, cwd=self.data_dir, env=self._env(), timeout=120
        )
        lines = result.stdout.strip().splitlines()
        if result.returncode != 0 or not lines or not lines[-1].startswith("sck_"):
            raise RuntimeError(
                f"smartcity keys create exited with {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        self.api_key = lines[-1].strip()
        return self.api_key

    @property
    def auth_headers(self) -> dict[str, str]:
        """The credentials every benchmark request carries."""
        return {API_KEY_HEADER: self.api_key} if self.api_key else {}

    def start(self, timeout_s: float = 180) -> None:
        """Start the server and wait until /healthz answers."""
        cmd = [*smartcity_command(), "run", "--no-demo", "--port", str(self.port)]
        cmd += [*self._where(), "--workers", str(self.workers)]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir, env=self._env()
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                response = httpx.get(self.base_url + "/healthz", timeout=2)
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(
            f"server did not answer /healthz in {timeout_s:.0f} s:\n{self.log_tail()}"
        )

    def pids(self) -> list[int]:
        """The server process and its workers."""
        assert self.proc is not None
        return process_tree(self.proc.pid)

    def postgres_pids(self) -> list[int]:
        """The PostgreSQL backend processes serving the benchmark database."""
        if not self.database_url:
            return []
        import psycopg

        name = self.database_url.rsplit("/", 1)[1]
        admin = self.database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin) as conn:
            query = "SELECT pid FROM pg_stat_activity WHERE datname = %s"
            return [row[0] for row in conn.execute(query, (name,))]

    def memory(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) in MiB, summed over the server's processes."""
        return memory_mib(self.pids())

    def stop(self) -> None:
        """Stop the server (SIGINT, then SIGTERM, then SIGKILL)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            self.proc.send_signal(sig)
            try:
                self.proc.wait(wait_s)
                return
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's output."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


# --- seeding through the Python API ------------------------------------------------------


def flow_body(index: int, rng: random.Random) -> dict[str, Any]:
    """A traffic-flow observation somewhere in the urban core (normalized NGSI-LD)."""
    lon = rng.uniform(BOX[0], BOX[2])
    lat = rng.uniform(BOX[1], BOX[3])
    return {
        "id": flow_id(index),
        "type": FLOW,
        "intensity": {"type": "Property", "value": rng.randint(0, 1000)},
        "occupancy": {"type": "Property", "value": round(rng.random(), 3)},
        "averageVehicleSpeed": {"type": "Property", "value": round(rng.uniform(5, 60), 1)},
        "laneId": {"type": "Property", "value": rng.randint(1, 4)},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
        },
    }


def meter_body(entity_id: str, rng: random.Random) -> dict[str, Any]:
    """An entity with UPSERT_ATTRS numeric attributes, for the batch-upsert benchmark."""
    body: dict[str, Any] = {"id": entity_id, "type": METER}
    for k in range(UPSERT_ATTRS):
        body[f"m{k}"] = {"type": "Property", "value": round(rng.uniform(0, 1000), 2)}
    return body


class Seeder:
    """Writes entities and history straight into the database, in batches."""

    def __init__(self, database: Database, batch: int) -> None:
        self.database = database
        self.broker = ContextBroker(database)
        self.ctx = ContextResolver().resolve(None)
        self.batch = batch
        self.count = 0

    def top_up(self, target: int) -> tuple[int, float]:
        """Seed traffic-flow entities until there are `target`; (added, seconds)."""
        started, added = _now(), 0
        for start in range(self.count, target, self.batch):
            end = min(target, start + self.batch)
            rng, now = random.Random(start), now_us()
            items = [
                model.parse_entity(flow_body(i, rng), self.ctx, now) for i in range(start, end)
            ]
            result, _ = self.broker.batch_upsert(items, replace=True)
            if result.errors:
                raise RuntimeError(f"seeding failed: {result.errors[:3]}")
            added += end - start
            self.count = end
        self.analyze()
        return added, _now() - started

    def size_mib(self) -> float:
        """The database's size on disk, in MiB (SQLite: file plus WAL)."""
        if self.database.dialect == "postgresql":
            with self.database.read() as conn:
                query = "SELECT pg_database_size(current_database())"
                return float(conn.exec_driver_sql(query).scalar_one()) / 2**20
        path = Path(self.database.url.split("///", 1)[1])
        files = [path, path.with_name(path.name + "-wal")]
        return sum(f.stat().st_size for f in files if f.exists()) / 2**20

    def analyze(self) -> None:
        """Refresh planner statistics on PostgreSQL (what autovacuum would do soon after)."""
        if self.database.dialect == "postgresql":
            with self.database.write() as conn:
                conn.exec_driver_sql("ANALYZE entities")
                conn.exec_driver_sql("ANALYZE attr_history")

    def seed_history(self, days: int) -> tuple[int, float, int, int]:
        """One entity with `days` of 5-minute `intensity` values.

        Returns (instances, seconds, start_us, end_us).
        """
        started = _now()
        start_us = parse_datetime_us(f"{HISTORY_YEAR}-01-01T00:00:00Z")
        points = days * DAY_US // FIVE_MIN_US
        end_us = start_us + points * FIVE_MIN_US
        rng = random.Random(42)
        values = [_traffic_value(start_us + i * FIVE_MIN_US, rng) for i in range(points)]
        # The entity itself, holding the last value (its write is the last history row) ...
        last = {
            "id": HISTORY_ID,
            "type": FLOW,
            "intensity": {
                "type": "Property",
                "value": values[-1],
                "observedAt": format_us(start_us + (points - 1) * FIVE_MIN_US),
            },
        }
        result, _ = self.broker.batch_upsert(
            [model.parse_entity(last, self.ctx, now_us())], replace=True
        )
        if result.errors:
            raise RuntimeError(f"history entity not created: {result.errors}")
        # ... and every earlier value straight into the history, in batches.
        entity_type, attr = self.ctx.expand(FLOW), self.ctx.expand("intensity")
        stamp = format_us(now_us())
        for chunk in range(0, points - 1, self.batch):
            rows = []
            for i in range(chunk, min(points - 1, chunk + self.batch)):
                observed = start_us + i * FIVE_MIN_US
                instance = {
                    "type": "Property",
                    "value": values[i],
                    "observedAt": format_us(observed),
                    "createdAt": stamp,
                    "modifiedAt": stamp,
                }
                rows.append(
                    HistoryRow(HISTORY_ID, entity_type, attr, None, observed, values[i], instance)
                )
            with self.database.write() as conn:
                append_history(conn, rows)
        self.analyze()
        return points, _now() - started, start_us, end_us


def _traffic_value(instant_us: int, rng: random.Random) -> float:
    """A daily traffic curve with noise, vehicles per 5 minutes."""
    hour = (instant_us % DAY_US) / 3_600_000_000
    base = 60 + 45 * math.sin(math.pi * (hour - 5) / 14) if 5 <= hour <= 19 else 15
    return round(max(0.0, base + rng.gauss(0, 6)), 1)


# --- load generation ---------------------------------------------------------------------


def _patch_body(rng: random.Random) -> bytes:
    return orjson.dumps(
        {
            "intensity": {"type": "Property", "value": rng.randint(0, 1000)},
            "occupancy": {"type": "Property", "value": round(rng.random(), 3)},
        }
    )


async def _load_round(
    client: httpx.AsyncClient, ids: list[str], clients: int, until: float, seed: int
) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0

    async def worker(k: int) -> None:
        nonlocal errors
        rng = random.Random(seed * 1000 + k)
        while _now() < until:
            if ids:
                url = f"{API}/entities/{rng.choice(ids)}/attrs"
                body = _patch_body(rng)
                t0 = _now()
                response = await client.patch(url, content=body, headers=JSON_HEADERS)
                ok = response.status_code == 204
            else:
                t0 = _now()
                response = await client.get("/healthz")
                ok = response.status_code == 200
            latencies.append(_now() - t0)
            if not ok:
                errors += 1

    await asyncio.gather(*(worker(k) for k in range(clients)))
    return latencies, errors


async def _raw_round(
    host: str, port: int, ids: list[str], clients: int, until: float, seed: int, api_key: str
) -> tuple[list[float], int]:
    """The same load as `_load_round` through a minimal HTTP/1.1 keep-alive client on
    asyncio streams: it costs the load generator a fraction of httpx's CPU, so that on a
    small machine the server, not the client, is what gets measured."""
    latencies: list[float] = []
    errors = 0
    # Every request carries the API key, like the httpx client's default headers.
    auth = f"{API_KEY_HEADER}: {api_key}\r\n" if api_key else ""

    async def worker(k: int) -> None:
        nonlocal errors
        rng = random.Random(seed * 1000 + k)
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while _now() < until:
                if ids:
                    body = _patch_body(rng)
                    request = (
                        f"PATCH {API}/entities/{rng.choice(ids)}/attrs HTTP/1.1\r\n"
                        f"Host: {host}:{port}\r\nContent-Type: application/json\r\n{auth}"
                        f"Content-Length: {len(body)}\r\n\r\n"
                    ).encode() + body
                    expected = 204
                else:
                    request = f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}\r\n".encode()
                    expected = 200
                t0 = _now()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                latencies.append(_now() - t0)
                if int(head[9:12]) != expected:
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker(k) for k in range(clients)))
    return latencies, errors


def concurrent_load(
    base_url: str,
    ids: list[str],
    clients: int,
    duration_s: float,
    seed: int,
    kind: str,
    api_key: str,
) -> dict[str, Any]:
    """`clients` asyncio tasks PATCHing `ids` (GET /healthz when there are none) for
    `duration_s`, after a short warm-up; `kind` is the HTTP client: httpx or raw. Every
    request sends `api_key` as X-API-Key (none when it is empty)."""

    async def main() -> dict[str, Any]:
        warmup = min(1.0, duration_s / 5)
        if kind == "raw":
            host, port = base_url.split("//", 1)[1].rsplit(":", 1)
            await _raw_round(host, int(port), ids, clients, _now() + warmup, seed, api_key)
            cpu0, t0 = time.process_time(), _now()
            latencies, errors = await _raw_round(
                host, int(port), ids, clients, t0 + duration_s, seed + 1, api_key
            )
        else:
            limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
            headers = {API_KEY_HEADER: api_key} if api_key else {}
            async with httpx.AsyncClient(
                base_url=base_url, limits=limits, timeout=60, headers=headers
            ) as client:
                await _load_round(client, ids, clients, _now() + warmup, seed)
                cpu0, t0 = time.process_time(), _now()
                latencies, errors = await _load_round(
                    client, ids, clients, t0 + duration_s, seed + 1
                )
        return {
            "latencies": latencies,
            "errors": errors,
            "elapsed": _now() - t0,
            "cpu": time.process_time() - cpu0,
        }

    try:
        import uvloop  # the load generator's own overhead matters on 2 cores

        return uvloop.run(main())
    except ImportError:
        return asyncio.run(main())


def run_series(
    client: httpx.Client,
    request: Callable[[random.Random], tuple[str, dict[str, str]]],
    count: int,
    cap_s: float,
    check: Callable[[httpx.Response], dict[str, float]] | None = None,
    warmup: int = 5,
) -> Series:
    """`count` sequential GETs (fewer if they take longer than `cap_s` in all)."""
    rng = random.Random(7)
    for _ in range(warmup):
        path, params = request(rng)
        client.get(path, params=params).raise_for_status()
    latencies: list[float] = []
    errors = 0
    extra_sums: dict[str, float] = {}
    started = _now()
    capped = False
    for _ in range(count):
        if _now() - started > cap_s and len(latencies) >= 20:
            capped = True
            break
        path, params = request(rng)
        t0 = _now()
        response = client.get(path, params=params)
        latencies.append(_now() - t0)
        if response.status_code != 200:
            errors += 1
        elif check is not None:
            for key, value in check(response).items():
                extra_sums[key] = extra_sums.get(key, 0.0) + value
    done = max(1, len(latencies) - errors)
    extra = {key: value / done for key, value in extra_sums.items()}
    return Series(latencies, errors, _now() - started, capped, extra)


def count_results(response: httpx.Response) -> dict[str, float]:
    """How many entities a query returned."""
    return {"results": float(len(response.json()))}


# --- the benchmarks --------------------------------------------------------------------------


class Bench:
    """All measurements on one backend."""

    def __init__(self, cfg: Config, backend: str, server: Server, seeder: Seeder) -> None:
        self.cfg = cfg
        self.backend = backend
        self.server = server
        self.seeder = seeder
        self.report = Report(backend)
        self.client = httpx.Client(
            base_url=server.base_url, timeout=300, headers=server.auth_headers
        )

    def memory(self, phase: str) -> None:
        """Record the server's memory after a phase."""
        rss, hwm = self.server.memory()
        self.report.memory.append([phase, f"{rss:,.0f}", f"{hwm:,.0f}"])
        print(f"  memory after {phase}: VmRSS {rss:,.0f} MiB, VmHWM {hwm:,.0f} MiB", flush=True)

    def quiet(self) -> None:
        """Before a measurement: let the machine settle (seeding, checkpoints, other users)."""
        waited, busy = wait_for_quiet(self.cfg.quiet_wait_s)
        if busy >= 25:
            message = f"machine still {busy:.0f}% busy after waiting {waited:.0f} s for quiet"
            print(f"  warning: {message}", flush=True)
            self.report.notes.append(message)

    def add(self, row: Row) -> None:
        """Record and echo a result line."""
        self.report.rows.append(row)
        print(
            f"  {row.bench} [{row.entities}] {row.throughput} p50={row.p50} p95={row.p95} "
            f"n={row.n} {row.verdict} {row.notes}",
            flush=True,
        )

    # (a) ---------------------------------------------------------------------------------

    def patch(self, entities: int) -> None:
        """Concurrent single-entity PATCH /entities/{id}/attrs, after the same load on
        GET /healthz as a reference: what the HTTP stack and load generator manage alone."""
        ids = [flow_id(i) for i in range(min(PATCH_ENTITIES, entities))]
        kinds = ["httpx", "raw"] if self.cfg.loadgen == "both" else [self.cfg.loadgen]
        for kind in kinds:
            self._concurrent("(a) reference: GET /healthz", [], entities, kind)
            self._concurrent("(a) PATCH /entities/{id}/attrs", ids, entities, kind)

    def _concurrent(self, label: str, ids: list[str], entities: int, kind: str) -> None:
        cfg = self.cfg
        self.quiet()
        procs = max(1, cfg.loadgen_procs)
        shares = [
            cfg.clients // procs + (1 if k < cfg.clients % procs else 0) for k in range(procs)
        ]
        loadgen_cpu: list[float] = []
        url, key = self.server.base_url, self.server.api_key
        with cpu_meter(self.server, loadgen_cpu) as use:
            if procs == 1:  # this process's CPU is counted by cpu_meter itself
                results = [concurrent_load(url, ids, cfg.clients, cfg.duration_s, 1, kind, key)]
            else:
                with ProcessPoolExecutor(procs, mp_context=get_context("spawn")) as pool:
                    futures = [
                        pool.submit(concurrent_load, url, ids, n, cfg.duration_s, k, kind, key)
                        for k, n in enumerate(shares)
                    ]
                    results = [future.result() for future in futures]
                loadgen_cpu.extend(result["cpu"] for result in results)
        latencies = [lat for result in results for lat in result["latencies"]]
        errors = sum(result["errors"] for result in results)
        rate = sum(len(result["latencies"]) / result["elapsed"] for result in results)
        series = Series(latencies, errors, max(result["elapsed"] for result in results))
        where = "in this process" if procs == 1 else f"in {procs} processes"
        client = "httpx.AsyncClient" if kind == "httpx" else "minimal asyncio HTTP/1.1 client"
        notes = (
            f"{cfg.clients} clients, {cfg.duration_s:.0f} s, X-API-Key on every request; load "
            f"generator (uvloop + {client} {where}) shares the {os.cpu_count()} cores with the "
            f"server; {use[0].describe()}"
        )
        if ids:
            notes = f"{len(ids):,} entities, 2 attributes per PATCH; " + notes
            target = "≥ 2,000 req/s (SQLite)"
            passed = verdict(rate >= 2000 and not errors) if self.backend == "sqlite" else "n/a"
        else:
            target, passed = "(ceiling of HTTP stack + load gen)", "(info)"
        if errors:
            notes += f"; {errors} unexpected answers"
        self.add(
            Row(
                f"{label}, {cfg.clients} clients, {kind} client"
                + (f", {procs} load-gen procs" if procs > 1 else ""),
                f"{entities:,}",
                f"{rate:,.0f} req/s",
                ms(series.pct(0.5)),
                ms(series.pct(0.95)),
                f"{len(latencies):,}",
                target,
                passed,
                notes,
            )
        )

    # (b) ---------------------------------------------------------------------------------

    def upsert_http(self, entities: int) -> None:
        """POST /entityOperations/upsert, 1,000 entities x 10 attributes per request."""
        ids = [f"urn:ngsi-ld:{METER}:http-{j:04d}" for j in range(UPSERT_ENTITIES)]
        rounds = max(2, self.cfg.upsert_rounds)
        values = UPSERT_ENTITIES * UPSERT_ATTRS
        bodies = []
        for r in range(rounds * 2):
            rng = random.Random(1000 + r)
            bodies.append(orjson.dumps([meter_body(entity_id, rng) for entity_id in ids]))
        path = f"{API}/entityOperations/upsert"

        def post(body: bytes, params: dict[str, str]) -> float:
            t0 = _now()
            response = self.client.post(path, content=body, headers=JSON_HEADERS, params=params)
            elapsed = _now() - t0
            if response.status_code not in (201, 204):
                raise RuntimeError(f"upsert answered {response.status_code}: {response.text[:300]}")
            return elapsed

        phases = [
            ("create (new ids)", [bodies[0]], {}),
            ("replace (default)", bodies[1:rounds], {}),
            ("options=update", bodies[rounds:], {"options": "update"}),
        ]
        for label, batch, params in phases:
            self.quiet()
            with cpu_meter(self.server, []) as use:
                times = [post(body, params) for body in batch]
            rate = values * len(times) / sum(times)
            series = Series(times, 0, sum(times))
            self.add(
                Row(
                    f"(b) batch upsert HTTP, {label}",
                    f"{entities:,}",
                    f"{rate:,.0f} values/s",
                    ms(series.pct(0.5)),
                    ms(series.pct(0.95)),
                    str(len(times)),
                    "≥ 100,000 values/s",
                    verdict(rate >= 100_000),
                    f"{UPSERT_ENTITIES:,} entities x {UPSERT_ATTRS} attrs per request "
                    f"({len(batch[0]) / 1e6:.1f} MB); {use[0].describe()}",
                )
            )

    def upsert_api(self, entities: int) -> None:
        """ContextBroker.batch_upsert in this process (parse + store), no HTTP."""
        ids = [f"urn:ngsi-ld:{METER}:api-{j:04d}" for j in range(UPSERT_ENTITIES)]
        values = UPSERT_ENTITIES * UPSERT_ATTRS
        parse_s, store_s = [], []
        rounds = max(2, self.cfg.upsert_rounds)
        self.quiet()
        for r in range(rounds):
            rng = random.Random(5000 + r)
            bodies = [meter_body(entity_id, rng) for entity_id in ids]
            t0 = _now()
            items = [model.parse_entity(body, self.seeder.ctx, now_us()) for body in bodies]
            t1 = _now()
            result, _ = self.seeder.broker.batch_upsert(items, replace=True)
            t2 = _now()
            if result.errors:
                raise RuntimeError(f"API upsert failed: {result.errors[:3]}")
            parse_s.append(t1 - t0)
            store_s.append(t2 - t1)
        steady = [p + s for p, s in zip(parse_s[1:], store_s[1:], strict=True)]
        rate = values * len(steady) / sum(steady)
        series = Series(steady, 0, sum(steady))
        self.add(
            Row(
                "(b) batch upsert Python API, replace",
                f"{entities:,}",
                f"{rate:,.0f} values/s",
                ms(series.pct(0.5)),
                ms(series.pct(0.95)),
                str(len(steady)),
                "≥ 100,000 values/s",
                verdict(rate >= 100_000),
                f"ContextBroker.batch_upsert in the benchmark process; parse_entity "
                f"{1000 * sum(parse_s[1:]) / len(steady):.0f} ms + store "
                f"{1000 * sum(store_s[1:]) / len(steady):.0f} ms per batch; first (create) batch "
                f"{values / (parse_s[0] + store_s[0]):,.0f} values/s",
            )
        )

    # (c) and (d) -----------------------------------------------------------------------------

    def queries(self, entities: int) -> None:
        """Type + q queries and geo-queries at the current size."""
        at_target_size = entities == 100_000

        def broad(rng: random.Random) -> tuple[str, dict[str, str]]:
            q = f"intensity>{rng.randint(450, 550)};occupancy<0.5"
            return f"{API}/entities", {"type": FLOW, "q": q, "limit": "20"}

        def selective(rng: random.Random) -> tuple[str, dict[str, str]]:
            q = f"intensity=={rng.randint(0, 1000)};laneId==2"
            return f"{API}/entities", {"type": FLOW, "q": q, "limit": "20"}

        def near(rng: random.Random) -> tuple[str, dict[str, str]]:
            lon, lat = rng.uniform(BOX[0], BOX[2]), rng.uniform(BOX[1], BOX[3])
            return f"{API}/entities", {
                "type": FLOW,
                "georel": "near;maxDistance==500",
                "geometry": "Point",
                "coordinates": f"[{lon:.5f},{lat:.5f}]",
                "limit": "20",
            }

        cases = [
            ("(c) type+q broad: intensity>~500;occupancy<0.5", broad, "p95 ≤ 20 ms at 100k"),
            ("(c) type+q selective: intensity==N;laneId==2", selective, "p95 ≤ 20 ms at 100k"),
            ("(d) geo near;maxDistance==500, limit 20", near, "p95 ≤ 20 ms at 100k"),
        ]
        for label, request, target in cases:
            if label[1] not in self.cfg.only:
                continue
            self.quiet()
            with cpu_meter(self.server, []) as use:
                series = run_series(
                    self.client, request, self.cfg.queries, self.cfg.series_cap_s, count_results
                )
            p95 = series.pct(0.95)
            notes = (
                f"sequential, 1 client; {series.extra.get('results', 0):.1f} results/request "
                f"on average; {use[0].describe()}"
            )
            if series.capped:
                notes += f"; stopped after {self.cfg.series_cap_s:.0f} s (time cap)"
            if series.errors:
                notes += f"; {series.errors} errors"
            self.add(
                Row(
                    label,
                    f"{entities:,}",
                    f"{len(series.latencies) / series.elapsed_s:,.1f} req/s",
                    ms(series.pct(0.5)),
                    ms(p95),
                    str(len(series.latencies)),
                    target,
                    verdict(p95 <= 0.020 and not series.errors) if at_target_size else "(info)",
                    notes,
                )
            )

    # (e) -------------------------------------------------------------------------------------

    def temporal(self, entities: int) -> None:
        """Daily avg/min/max/sum/count over a year of 5-minute values."""
        days = self.cfg.temporal_days
        points, seconds, start_us, end_us = self.seeder.seed_history(days)
        self.report.seeding.append(
            [
                f"history of 1 attribute, {days} days x 5 min",
                f"{points:,} instances",
                f"{seconds:,.1f}",
                f"{points / seconds:,.0f} instances/s",
                f"{self.seeder.size_mib():,.0f}",
            ]
        )
        self.memory("temporal seeding")
        params = {
            "options": "aggregatedValues",
            "aggrMethods": "avg,min,max,sum,totalCount",
            "aggrPeriodDuration": "P1D",
            "timerel": "between",
            "timeAt": format_us(start_us),
            "endTimeAt": format_us(end_us),
        }
        self._temporal_series(f"P1D over {points:,} values", params, points, entities)
        # The same with the attribute named: shows what finding the attributes costs.
        named = {**params, "attrs": "intensity"}
        self._temporal_series("same, attrs=intensity", named, points, entities)

    def _temporal_series(
        self, label: str, params: dict[str, str], points: int, entities: int
    ) -> None:
        path = f"{API}/temporal/entities/{HISTORY_ID}"
        first = self.client.get(path, params=params)
        if first.status_code != 200:
            self.add(
                Row(
                    f"(e) temporal aggregation {label}",
                    f"{entities:,}",
                    f"HTTP {first.status_code}",
                    target="p95 ≤ 100 ms",
                    verdict="**FAIL**",
                    notes=first.text[:200].replace("|", "/").replace("\n", " "),
                )
            )
            return
        counted, buckets = total_count(first.json())
        self.quiet()
        with cpu_meter(self.server, []) as use:
            series = run_series(
                self.client,
                lambda _rng: (path, params),
                self.cfg.temporal_queries,
                self.cfg.series_cap_s,
            )
        p95 = series.pct(0.95)
        notes = (
            f"{buckets} daily buckets, totalCount sums to {counted:,} "
            f"({'OK' if counted == points else 'expected ' + format(points, ',')}); "
            f"response {len(first.content) / 1024:.0f} KiB; {use[0].describe()}"
        )
        if series.capped:
            notes += f"; stopped after {self.cfg.series_cap_s:.0f} s (time cap)"
        self.add(
            Row(
                f"(e) temporal aggregation {label}",
                f"{entities:,}",
                f"{len(series.latencies) / series.elapsed_s:,.1f} req/s",
                ms(series.pct(0.5)),
                ms(p95),
                str(len(series.latencies)),
                "p95 ≤ 100 ms",
                verdict(p95 <= 0.100 and not series.errors and counted == points),
                notes,
            )
        )

    # the whole run -------------------------------------------------------------------------

    def run(self) -> Report:
        """Seed and measure at every size."""
        self.memory("start (empty database)")
        for position, size in enumerate(self.cfg.sizes):
            if size > self.seeder.count:
                before = self.seeder.count
                print(f"  seeding {before:,} → {size:,} entities …", flush=True)
                added, seconds = self.seeder.top_up(size)
                self.report.seeding.append(
                    [
                        f"entities {before:,} → {size:,} (5 attributes each)",
                        f"{added:,} entities",
                        f"{seconds:,.1f}",
                        f"{added / seconds:,.0f} entities/s ({5 * added / seconds:,.0f} values/s)",
                        f"{self.seeder.size_mib():,.0f}",
                    ]
                )
                self.memory(f"seeding to {size:,}")
            only = self.cfg.only
            if position == 0 and "a" in only:
                self.patch(size)
                self.memory("(a) PATCH")
            if position == 0 and "b" in only:
                self.upsert_http(size)
                self.memory("(b) batch upsert HTTP")
                self.upsert_api(size)
            if "c" in only or "d" in only:
                self.queries(size)
                self.memory(f"(c)/(d) queries at {size:,}")
            if position == 0 and "e" in only:
                self.temporal(size)
                self.memory("(e) temporal")
        self.client.close()
        return self.report


def total_count(document: Any) -> tuple[int, int]:
    """Sum of totalCount over the buckets of an aggregated temporal entity, and bucket count."""
    if isinstance(document, list):
        document = document[0] if document else {}
    counted = buckets = 0
    for value in document.values() if isinstance(document, dict) else ():
        for instance in value if isinstance(value, list) else [value]:
            if isinstance(instance, dict) and isinstance(instance.get("totalCount"), list):
                for bucket in instance["totalCount"]:
                    counted += int(bucket[0] if isinstance(bucket, list) else bucket["value"])
                    buckets += 1
    return counted, buckets


# --- driver --------------------------------------------------------------------------------


@contextmanager
def backend_database(cfg: Config, backend: str, data_dir: Path) -> Iterator[str | None]:
    """A fresh database for the run: a SQLite file in data_dir, or a PostgreSQL database."""
    if backend == "sqlite":
        yield None
        return
    import psycopg

    name = f"smartcity_bench_{os.getpid()}"
    admin = cfg.pg_url.rstrip("/") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield cfg.pg_url.rstrip("/") + "/" + name
    finally:
        if not cfg.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def postgres_available(cfg: Config) -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(cfg.pg_url.rstrip("/") + "/postgres", connect_timeout=5):
            return None
    except Exception as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def run_backend(cfg: Config, backend: str) -> Report:
    """Start a server on `backend`, seed, measure, stop."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"smartcity-bench-{backend}-"))
    print(f"\n== {backend}: data in {data_dir}", flush=True)
    try:
        with backend_database(cfg, backend, data_dir) as pg_url:
            server = Server(data_dir, pg_url, cfg.workers)
            server.create_api_key()  # migrates the fresh database, then stores the key
            server.start()
            try:
                print(
                    f"  server pid {server.proc.pid if server.proc else '?'} on {server.base_url}"
                )
                url = normalize_database_url(pg_url) if pg_url else None
                database = open_database(url or f"sqlite:///{data_dir / 'smartcity.db'}")
                try:
                    bench = Bench(cfg, backend, server, Seeder(database, cfg.seed_batch))
                    return bench.run()
                finally:
                    database.dispose()
            finally:
                server.stop()
                if server.proc is not None and server.proc.returncode not in (0, None):
                    tail = server.log_tail(10)
                    if "Traceback" in tail:
                        print(f"  server log tail:\n{tail}")
    finally:
        if cfg.keep:
            print(f"  kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def render(cfg: Config, report: Report) -> str:
    """The markdown report of one backend."""
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    mem_total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [
        f"# Broker benchmark — {report.backend}",
        "",
        f"- date: {date}; command: `{cfg.command}`",
        f"- machine: {os.cpu_count()} cores (nproc), {mem_total:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        f"- server: `smartcity run --no-demo --workers {cfg.workers}` (uvicorn), "
        f"{'SQLite file' if report.backend == 'sqlite' else 'PostgreSQL on the same machine'}; "
        "the load generator and the seeding run on the same cores as the server",
        "- credentials: an integrator API key (`smartcity keys create`) sent as `X-API-Key` "
        "on every request; the server looks it up on each request and commits one audit row "
        "per write before answering",
        "",
        "| Benchmark | Entities | Throughput | p50 ms | p95 ms | n | Target | Verdict | Notes |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for row in report.rows:
        lines.append(
            f"| {row.bench} | {row.entities} | {row.throughput} | {row.p50} | {row.p95} | "
            f"{row.n} | {row.target} | {row.verdict} | {row.notes} |"
        )
    lines += ["", f"Seeding (Python API, batches of {cfg.seed_batch:,}):", ""]
    lines += [
        "| Step | Written | Seconds | Rate | Database MiB after (SQLite: file + WAL) |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {' | '.join(entry)} |" for entry in report.seeding]
    lines += ["", "Server memory (all server processes):", ""]
    lines += ["| After | VmRSS MiB | VmHWM MiB |", "|---|---:|---:|"]
    lines += [f"| {' | '.join(entry)} |" for entry in report.memory]
    if report.notes:
        lines += ["", *[f"- {note}" for note in report.notes]]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> Config:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--sizes", default=None, help="entity counts, e.g. 10000,100000,1000000")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--clients", type=int, default=16, help="concurrent PATCH clients")
    parser.add_argument("--duration", type=float, default=None, help="PATCH seconds (10)")
    parser.add_argument(
        "--loadgen-procs", type=int, default=1, help="processes the PATCH clients are spread over"
    )
    parser.add_argument(
        "--loadgen",
        choices=["httpx", "raw", "both"],
        default="both",
        help="HTTP client of the concurrent load: httpx.AsyncClient, a minimal asyncio "
        "client (much cheaper, so that the server is what saturates), or both",
    )
    parser.add_argument("--only", default="abcde", help="which benchmarks, e.g. ac (abcde)")
    parser.add_argument("--queries", type=int, default=None, help="requests per query (200)")
    parser.add_argument("--temporal-queries", type=int, default=None, help="(50)")
    parser.add_argument("--temporal-days", type=int, default=None, help="history length (365)")
    parser.add_argument("--upsert-rounds", type=int, default=None, help="requests per phase (10)")
    parser.add_argument(
        "--series-cap", type=float, default=None, help="max seconds per latency series (180)"
    )
    parser.add_argument("--seed-batch", type=int, default=5000, help="entities per seed batch")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="max seconds to wait before each measurement for the machine to be idle",
    )
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--keep", action="store_true", help="keep the data dir / database")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    quick = args.quick

    def pick(value: Any, normal: Any, small: Any) -> Any:
        return value if value is not None else (small if quick else normal)

    sizes_text = pick(args.sizes, "10000,100000,1000000", "1000,5000")
    return Config(
        backends=["sqlite", "postgresql"] if args.backend == "both" else [args.backend],
        sizes=sorted({int(size.replace("_", "")) for size in sizes_text.split(",") if size}),
        quick=quick,
        workers=args.workers,
        clients=args.clients,
        duration_s=pick(args.duration, 10.0, 2.0),
        loadgen_procs=args.loadgen_procs,
        loadgen=args.loadgen,
        only=args.only,
        queries=pick(args.queries, 200, 30),
        temporal_queries=pick(args.temporal_queries, 50, 10),
        temporal_days=pick(args.temporal_days, 365, 30),
        upsert_rounds=pick(args.upsert_rounds, 10, 3),
        series_cap_s=pick(args.series_cap, 180.0, 20.0),
        seed_batch=args.seed_batch,
        quiet_wait_s=args.quiet_wait,
        pg_url=args.pg_url,
        keep=args.keep,
        results_dir=args.results_dir,
        command="python benchmarks/broker.py " + " ".join(sys.argv[1:] if argv is None else argv),
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status is 1 when a backend could not be measured."""
    cfg = parse_args(argv)
    cfg.results_dir.mkdir(parents=True, exist_ok=True)
    status = 0
    for backend in cfg.backends:
        if backend == "postgresql":
            problem = postgres_available(cfg)
            if problem:
                print(f"\n== postgresql skipped: {problem}")
                status = 1
                continue
        try:
            report = run_backend(cfg, backend)
        except Exception as exc:
            print(f"\n== {backend} failed: {type(exc).__name__}: {exc}", flush=True)
            status = 1
            continue
        text = render(cfg, report)
        out = cfg.results_dir / f"broker-{backend}.md"
        out.write_text(text)
        print("\n" + text + f"(written to {out})", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
