"""Benchmark of NGSI-LD subscription notifications: entity update → webhook received.

For each backend (a SQLite file; a scratch PostgreSQL database) this starts the real server
(`smartcity run --no-demo`, one worker) as a subprocess on a free port, with an integrator
API key made by `smartcity keys create` and sent as `X-API-Key` on every request. It creates
`--entities` `WaterObserved` entities (attributes `zone` = index mod `--subscriptions`,
`waterLevel`, `seq`, `sentUs`) and then, for each fan-out k of `--fanout` (default 1 and 10):

- `--subscriptions` subscriptions (100), each `entities: [{type: WaterObserved}]`,
  `watchedAttributes: [seq]` and a `q` on `zone` (`zone==j` for k = 1, `zone==lo..hi` over k
  zones for k > 1) so that every update matches exactly k subscriptions; keyValues
  notifications with `attributes: [seq, sentUs, zone]` to a webhook in a separate process
  of this benchmark (`/notify/<case>/<subscription>`);
- updates at an offered rate of `--rate` / k updates/s (so the offered notification rate is
  `--rate` in every case), for `--duration` seconds after a 2 s warm-up, through
  `POST /ngsi-ld/v1/entityOperations/update` (`--mode batch`, the default: one request every
  `--batch-ms` with the updates due, as an integrator's gateway would send them) or one
  `PATCH /ngsi-ld/v1/entities/{id}/attrs` per update (`--mode patch`), over `--clients`
  keep-alive connections of a minimal asyncio HTTP/1.1 client. Each update carries a
  unique `seq` and `sentUs` = the wall clock (µs) right before its request is written;
- the webhook (raw asyncio protocol on uvloop, its own process) answers 204 and records,
  per notified entity, receive time − `sentUs`, and receive time − the notification's
  `notifiedAt` (the time the platform put it into its outbox), deduplicated on
  (subscription, seq). After sending, the benchmark waits until every expected notification
  arrived or none arrived for `--drain` seconds. Missing notifications count as infinitely
  late in the percentiles.

Reported per case: offered/achieved update rate, notifications expected/received, POSTs and
entities per POST, p50/p95/p99/max latency, the platform's CPU (% of one core) and RSS, the
PostgreSQL backends' CPU, the webhook's CPU, the deepest outbox seen, and PASS/FAIL against
p99 ≤ 500 ms. Before the backends, the webhook's own capacity is measured (one keep-alive
connection, sequential POSTs, as the platform's notifier sends them).

    .venv/bin/python benchmarks/notify_latency.py                       # both backends
    .venv/bin/python benchmarks/notify_latency.py --backend sqlite --rate 300 --fanout 1
    .venv/bin/python benchmarks/notify_latency.py --mode patch --rate 200

PostgreSQL is reached at --pg-url (trust auth): the benchmark creates
`smartcity_bench_notify_<pid>` there and drops it afterwards (`--keep` keeps it and the
SQLite directory). Results also go to benchmarks/results/notify-latency.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent
API = "/ngsi-ld/v1"
API_KEY_HEADER = "X-API-Key"
ENTITY_TYPE = "WaterObserved"
TARGET_P99_S = 0.5
WARMUP_S = 2.0


@dataclass
class Config:
    """The command line."""

    backends: list[str]
    rate: float
    duration_s: float
    subscriptions: int
    entities: int
    fanouts: list[int]
    mode: str
    batch_ms: float
    clients: int
    drain_s: float
    quiet_wait_s: float
    pg_url: str
    keep: bool
    profile: bool
    results_dir: Path
    command: str
    workers: int = 1
    split: bool = False


def now_wall_us() -> int:
    return time.time_ns() // 1000


def entity_id(index: int) -> str:
    return f"urn:ngsi-ld:{ENTITY_TYPE}:bench-{index:05d}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the webhook receiver (its own process) --------------------------------------------------


class _Store:
    """What the webhook got, per case."""

    def __init__(self) -> None:
        self.posts: dict[str, int] = {}
        self.items: dict[str, list[tuple[int, int, int, int]]] = {}
        self.busy_s = 0.0
        self.handled = 0

    def handle(self, method: bytes, path: bytes, body: bytes, at_us: int) -> bytes:
        t0 = time.perf_counter()
        parts = path.decode().split("?", 1)[0].strip("/").split("/")
        if method == b"POST" and parts[0] == "notify":
            case, sub = parts[1], int(parts[2])
            self.posts[case] = self.posts.get(case, 0) + 1
            note = orjson.loads(body)
            notified = datetime.fromisoformat(note["notifiedAt"]).timestamp()
            notified_us = round(notified * 1e6)
            out = self.items.setdefault(case, [])
            for item in note.get("data", ()):
                sent = int(item.get("sentUs") or 0)
                out.append((int(item.get("seq") or -1), sub, at_us - sent, at_us - notified_us))
            answer = b"HTTP/1.1 204 No Content\r\n\r\n"
        elif method == b"POST" and parts[0] == "selftest":
            orjson.loads(body)
            answer = b"HTTP/1.1 204 No Content\r\n\r\n"
        elif method == b"GET" and parts[0] in ("count", "items"):
            case = parts[1]
            payload: Any = {
                "posts": self.posts.get(case, 0),
                "items": len(self.items.get(case, ())),
                "busy_s": self.busy_s,
                "handled": self.handled,
            }
            if parts[0] == "items":
                payload["rows"] = self.items.get(case, [])
            data = orjson.dumps(payload)
            answer = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(data)}\r\n\r\n".encode()
                + data
            )
        else:
            answer = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        self.busy_s += time.perf_counter() - t0
        self.handled += 1
        return answer


class _WebhookProtocol(asyncio.Protocol):
    """A minimal HTTP/1.1 keep-alive server connection."""

    def __init__(self, store: _Store) -> None:
        self.store = store
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        at_us = now_wall_us()
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            total = end + 4 + length
            if len(self.buf) < total:
                return
            body = bytes(self.buf[end + 4 : total])
            del self.buf[:total]
            method, path = head.split(b"\r\n", 1)[0].split(b" ")[:2]
            assert self.transport is not None
            self.transport.write(self.store.handle(method, path, body, at_us))


def webhook_main(port: int, ready: Any) -> None:
    """The receiver process: serve until killed."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def serve() -> None:
        store = _Store()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _WebhookProtocol(store), "127.0.0.1", port, backlog=512
        )
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


class Webhook:
    """The receiver process, and reads of what it got."""

    def __init__(self) -> None:
        self.port = free_port()
        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Event()
        self.proc = ctx.Process(target=webhook_main, args=(self.port, ready), daemon=True)
        self.proc.start()
        if not ready.wait(30):
            raise RuntimeError("the webhook did not start")
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)

    def url(self, case: str, sub: int) -> str:
        return f"http://127.0.0.1:{self.port}/notify/{case}/{sub}"

    def count(self, case: str) -> dict[str, Any]:
        return dict(self.client.get(f"/count/{case}").json())

    def rows(self, case: str) -> list[tuple[int, int, int, int]]:
        return [tuple(r) for r in self.client.get(f"/items/{case}").json()["rows"]]  # type: ignore[misc]

    def cpu_s(self) -> float:
        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    def close(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.join(10)


async def _selftest(port: int, seconds: float, connections: int) -> int:
    """POST a 1-entity notification-sized body as fast as `connections` clients can."""
    body = orjson.dumps(
        {
            "id": "urn:ngsi-ld:Notification:x",
            "type": "Notification",
            "subscriptionId": "urn:x",
            "notifiedAt": "2026-01-01T00:00:00.000000Z",
            "data": [{"id": entity_id(1), "type": ENTITY_TYPE, "seq": 1, "sentUs": 1, "zone": 1}],
        }
    )
    request = (
        f"POST /selftest HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    done = 0
    until = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < until:
            writer.write(request)
            await reader.readuntil(b"\r\n\r\n")
            done += 1
        writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return done


def webhook_capacity(hook: Webhook) -> dict[str, float]:
    """POSTs/s the webhook absorbs: one sequential connection (like the notifier) and 8."""
    out: dict[str, float] = {}
    for connections in (1, 8):
        cpu0, t0 = hook.cpu_s(), time.perf_counter()
        done = run_loop(_selftest(hook.port, 3.0, connections))
        wall = time.perf_counter() - t0
        out[f"posts_s_{connections}"] = done / wall
        out[f"cpu_us_{connections}"] = 1e6 * (hook.cpu_s() - cpu0) / max(done, 1)
    return out


def run_loop(coro: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


# --- the server under test -------------------------------------------------------------------


def smartcity_command() -> list[str]:
    script = Path(sys.executable).parent / "smartcity"
    return [str(script)] if script.exists() else [sys.executable, "-m", "smartcity.cli"]


def process_tree(root: int) -> list[psutil.Process]:
    try:
        proc = psutil.Process(root)
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def cpu_of(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def machine_busy_s() -> float:
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0))


class Server:
    """`smartcity run --no-demo` in a subprocess, and the credentials to talk to it."""

    def __init__(
        self, data_dir: Path, database_url: str | None, workers: int = 1, split: bool = False
    ) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.workers = workers
        # split: API workers never lead; a `smartcity jobs` process follows the feed and sends.
        self.split = split
        self.jobs: subprocess.Popen[bytes] | None = None
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.api_key = ""

    def _where(self) -> list[str]:
        where = ["--data-dir", str(self.data_dir)]
        return where + (["--database-url", self.database_url] if self.database_url else [])

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")}
        if self.workers > 1 or self.split:
            # Writes reach the leader's feed through the table: poll it often.
            env["SMARTCITY_FEED_POLL_S"] = "0.05"
        return env

    def create_api_key(self) -> None:
        """An integrator key (`smartcity keys create` prints it on its last line)."""
        cmd = [*smartcity_command(), "keys", "create", "--name", "notify-bench", *self._where()]
        result = subprocess.run(
            cmd, capture_output=True, text=True, cwd=self.data_dir, env=self._env(), timeout=120
        )
        lines = result.stdout.strip().splitlines()
        if result.returncode != 0 or not lines or not lines[-1].startswith("sck_"):
            raise RuntimeError(f"keys create failed:\n{result.stdout}\n{result.stderr}")
        self.api_key = lines[-1].strip()

    def start(self, timeout_s: float = 180) -> None:
        cmd = [*smartcity_command(), "run", "--no-demo", "--port", str(self.port), *self._where()]
        cmd += ["--workers", str(self.workers)]
        api_env = {**self._env(), "SMARTCITY_LEAD": "false"} if self.split else self._env()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir, env=api_env
            )
        if self.split:
            jobs_cmd = [*smartcity_command(), "jobs", *self._where()]
            with (self.data_dir / "jobs.log").open("wb") as log:
                self.jobs = subprocess.Popen(
                    jobs_cmd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir,
                    env=self._env(),
                )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log_tail()}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server did not answer /healthz:\n{self.log_tail()}")

    def procs(self) -> list[psutil.Process]:
        assert self.proc is not None
        jobs = process_tree(self.jobs.pid) if self.jobs is not None else []
        return process_tree(self.proc.pid) + jobs

    def rss_mib(self) -> float:
        total = 0.0
        for proc in self.procs():
            with suppress(psutil.Error):
                total += proc.memory_info().rss / 2**20
        return total

    def stop(self) -> None:
        for proc in (self.jobs, self.proc):
            if proc is None or proc.poll() is not None:
                continue
            for sig, wait_s in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
                proc.send_signal(sig)
                try:
                    proc.wait(wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


class DbProbe:
    """Outbox depth and PostgreSQL backend pids, read directly from the database."""

    def __init__(self, backend: str, sqlite_path: Path, pg_url: str | None) -> None:
        self.backend, self.pg_url = backend, pg_url
        self.lock = threading.Lock()
        self.error = ""
        if backend == "sqlite":
            self.conn: Any = sqlite3.connect(
                f"file:{sqlite_path}?mode=ro", uri=True, check_same_thread=False
            )
            self.conn.isolation_level = None
        else:
            import psycopg

            assert pg_url is not None
            self.conn = psycopg.connect(pg_url, autocommit=True)

    def outbox(self) -> int:
        with self.lock:
            try:
                row = self.conn.execute("SELECT count(*) FROM notification_outbox").fetchone()
            except Exception as exc:
                self.error = f"{type(exc).__name__}: {exc}"
                return -1
        return int(row[0])

    def pg_procs(self) -> list[psutil.Process]:
        if self.backend == "sqlite":
            return []
        assert self.pg_url is not None
        sql = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        with self.lock:
            pids = [r[0] for r in self.conn.execute(sql, (self.pg_url.rsplit("/", 1)[1],))]
        out = []
        for pid in pids:
            with suppress(psutil.Error):
                out.append(psutil.Process(pid))
        return out

    def close(self) -> None:
        self.conn.close()


# --- the load generator -----------------------------------------------------------------------


class Load:
    """Paced updates over raw keep-alive HTTP/1.1 connections (see module docstring)."""

    def __init__(self, cfg: Config, server: Server, seq0: int) -> None:
        self.cfg, self.server = cfg, server
        self.seq = seq0
        self.ok_updates = 0
        self.failed_updates = 0
        self.unsent = 0
        self.requests = 0
        self.request_s: list[float] = []
        self.errors: list[str] = []
        self.cursor = 0

    def _next_entities(self, n: int) -> list[int]:
        out = [(self.cursor + i) % self.cfg.entities for i in range(n)]
        self.cursor = (self.cursor + n) % self.cfg.entities
        return out

    def _request(self, indices: list[int]) -> tuple[bytes, int, int]:
        """(request bytes, first seq, count), stamped now."""
        first = self.seq
        self.seq += len(indices)
        sent = now_wall_us()
        auth = f"{API_KEY_HEADER}: {self.server.api_key}\r\n"
        host = f"127.0.0.1:{self.server.port}"

        def attrs(k: int) -> dict[str, Any]:
            return {
                "seq": {"type": "Property", "value": first + k},
                "sentUs": {"type": "Property", "value": sent},
                "waterLevel": {"type": "Property", "value": round((first + k) % 500 / 100, 2)},
            }

        if self.cfg.mode == "patch":
            body = orjson.dumps(attrs(0))
            line = f"PATCH {API}/entities/{entity_id(indices[0])}/attrs"
        else:
            items = [
                {"id": entity_id(index), "type": ENTITY_TYPE, **attrs(k)}
                for k, index in enumerate(indices)
            ]
            body = orjson.dumps(items)
            line = f"POST {API}/entityOperations/update"
        head = (
            f"{line} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{auth}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body, first, len(indices)

    async def run(self, rate: float, seconds: float) -> tuple[float, float]:
        """Offer `rate` updates/s for `seconds`; (seconds it took, updates sent)."""
        queue: asyncio.Queue[list[int]] = asyncio.Queue()
        tick = self.cfg.batch_ms / 1000 if self.cfg.mode == "batch" else 0.005
        cap = max(4 * self.cfg.clients, int(2.0 / tick))  # at most ~2 s of requests waiting
        done = asyncio.Event()
        sent_updates = 0

        async def scheduler() -> None:
            t0 = time.perf_counter()
            made = 0
            k = 0
            while (elapsed := time.perf_counter() - t0) < seconds:
                due = int(elapsed * rate) - made
                if due > 0:
                    made += due
                    chunks = [due] if self.cfg.mode == "batch" else [1] * due
                    for n in chunks:
                        if queue.qsize() >= cap:
                            self.unsent += n
                        else:
                            queue.put_nowait(self._next_entities(n))
                k += 1
                await asyncio.sleep(max(0.0, t0 + k * tick - time.perf_counter()))
            while not queue.empty():  # what the workers did not get to is not sent
                self.unsent += len(queue.get_nowait())
            done.set()

        async def worker() -> None:
            nonlocal sent_updates
            reader, writer = await asyncio.open_connection("127.0.0.1", self.server.port)
            try:
                while True:
                    getter = asyncio.ensure_future(queue.get())
                    stopper = asyncio.ensure_future(done.wait())
                    finished, _ = await asyncio.wait(
                        {getter, stopper}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getter not in finished:
                        getter.cancel()
                        return
                    stopper.cancel()
                    indices = getter.result()
                    request, _first, count = self._request(indices)
                    t0 = time.perf_counter()
                    writer.write(request)
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        if line[:15].lower() == b"content-length:":
                            length = int(line[15:])
                    answer = await reader.readexactly(length) if length else b""
                    self.request_s.append(time.perf_counter() - t0)
                    self.requests += 1
                    sent_updates += count
                    status = int(head[9:12])
                    if status == 204:
                        self.ok_updates += count
                    else:
                        failed = count
                        if status == 207:
                            failed = len(orjson.loads(answer).get("errors", []))
                        self.failed_updates += failed
                        self.ok_updates += count - failed
                        if len(self.errors) < 5:
                            self.errors.append(f"HTTP {status}: {answer[:300]!r}")
            finally:
                writer.close()

        t0 = time.perf_counter()
        await asyncio.gather(scheduler(), *(worker() for _ in range(self.cfg.clients)))
        return time.perf_counter() - t0, sent_updates


# --- one backend --------------------------------------------------------------------------------


@dataclass
class Case:
    """What one fan-out gave."""

    fanout: int
    offered: float
    achieved: float = 0.0
    ok_updates: int = 0
    failed_updates: int = 0
    unsent: int = 0
    expected: int = 0
    received: int = 0
    duplicates: int = 0  # items carrying a value already notified to that subscription
    posts: int = 0
    latencies_us: list[int] = field(default_factory=list)  # sent → received, per item
    queued_us: list[int] = field(default_factory=list)  # sent → notifiedAt (outbox row made)
    drain_s: float = 0.0
    request_p50_ms: float = math.nan
    request_p99_ms: float = math.nan
    cpu: dict[str, float] = field(default_factory=dict)
    rss_mib: float = 0.0
    outbox_max: int = 0
    errors: list[str] = field(default_factory=list)

    def pct(self, q: float, which: str = "total") -> float:
        """Percentile in seconds over the expected notifications (missing ones = infinite)."""
        values = sorted(self.latencies_us if which == "total" else self.queued_us)
        n = max(self.expected, len(values)) if which == "total" else len(values)
        if not n:
            return math.nan
        rank = max(0, math.ceil(q * n) - 1)
        return values[rank] / 1e6 if rank < len(values) else math.inf


class Sampler:
    """Samples the platform's RSS and the outbox depth every 0.25 s in a thread."""

    def __init__(self, server: Server, probe: DbProbe) -> None:
        self.server, self.probe = server, probe
        self.rss = 0.0
        self.outbox = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.rss = max(self.rss, self.server.rss_mib())
            self.outbox = max(self.outbox, self.probe.outbox())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


class Bench:
    def __init__(self, cfg: Config, backend: str, server: Server, hook: Webhook, probe: DbProbe):
        self.cfg, self.backend, self.server, self.hook, self.probe = (
            cfg,
            backend,
            server,
            hook,
            probe,
        )
        self.client = httpx.Client(
            base_url=server.base_url, headers={API_KEY_HEADER: server.api_key}, timeout=120
        )
        self.seq = 1

    def create_entities(self) -> None:
        cfg = self.cfg
        for first in range(0, cfg.entities, 500):
            body = [
                {
                    "id": entity_id(i),
                    "type": ENTITY_TYPE,
                    "zone": {"type": "Property", "value": i % cfg.subscriptions},
                    "waterLevel": {"type": "Property", "value": 1.0},
                    "seq": {"type": "Property", "value": 0},
                    "sentUs": {"type": "Property", "value": 0},
                }
                for i in range(first, min(cfg.entities, first + 500))
            ]
            response = self.client.post(f"{API}/entityOperations/upsert", json=body)
            if response.status_code not in (201, 204):
                raise RuntimeError(f"upsert: {response.status_code} {response.text[:500]}")

    def subscribe(self, case: str, fanout: int) -> list[str]:
        ids = []
        for j in range(self.cfg.subscriptions):
            lo = (j // fanout) * fanout
            q = f"zone=={j}" if fanout == 1 else f"zone=={lo}..{lo + fanout - 1}"
            body = {
                "type": "Subscription",
                "entities": [{"type": ENTITY_TYPE}],
                "watchedAttributes": ["seq"],
                "q": q,
                "notification": {
                    "endpoint": {"uri": self.hook.url(case, j), "accept": "application/json"},
                    "format": "keyValues",
                    "attributes": ["seq", "sentUs", "zone"],
                },
            }
            response = self.client.post(f"{API}/subscriptions", json=body)
            if response.status_code != 201:
                raise RuntimeError(f"subscribe: {response.status_code} {response.text[:500]}")
            ids.append(response.headers["Location"].rsplit("/", 1)[1])
        return ids

    def unsubscribe(self, ids: list[str]) -> None:
        for sub_id in ids:
            self.client.delete(f"{API}/subscriptions/{sub_id}")

    def wait_for(self, case: str, expected: int, idle_s: float, cap_s: float) -> float:
        """Wait until `expected` items arrived, or none for idle_s, or cap_s; seconds waited."""
        t0 = last_change = time.perf_counter()
        last = -1
        while True:
            got = self.hook.count(case)["items"]
            now = time.perf_counter()
            if got != last:
                last, last_change = got, now
            if got >= expected or now - last_change > idle_s or now - t0 > cap_s:
                return now - t0
            time.sleep(0.1)

    def start_profile(self, case_name: str) -> subprocess.Popen[bytes] | None:
        """py-spy on the server for the sending window (and as long again for the drain)."""
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not self.cfg.profile or not Path(spy).exists() or self.server.proc is None:
            return None
        out = self.cfg.results_dir / f"notify-profile-{case_name}.txt"
        self.cfg.results_dir.mkdir(parents=True, exist_ok=True)
        cmd = [spy, "record", "--pid", str(self.server.proc.pid), "--rate", "100"]
        cmd += ["--duration", str(int(self.cfg.duration_s)), "--threads", "--nonblocking"]
        cmd += ["--format", "raw", "--output", str(out)]
        print(f"    profiling to {out}")
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def run_case(self, fanout: int) -> Case:
        cfg = self.cfg
        case_name = f"{self.backend}-k{fanout}-{os.getpid()}"
        rate = cfg.rate / fanout
        result = Case(fanout=fanout, offered=rate)
        print(f"  fan-out {fanout}: {cfg.subscriptions} subscriptions, {rate:,.0f} updates/s")
        subs = self.subscribe(case_name, fanout)
        try:
            # Warm-up: same load, not measured; wait for its notifications.
            warm = Load(cfg, self.server, self.seq)
            run_loop(warm.run(rate, WARMUP_S))
            self.seq = warm.seq
            self.wait_for(case_name, warm.ok_updates * fanout, 5.0, 30.0)
            waited, busy = wait_for_quiet(cfg.quiet_wait_s)
            print(f"    (waited {waited:.0f} s for the machine: {busy:.0f}% busy before)")
            first_seq = self.seq
            posts0 = self.hook.count(case_name)["posts"]
            load = Load(cfg, self.server, first_seq)
            sampler = Sampler(self.server, self.probe)
            procs, pg = self.server.procs(), self.probe.pg_procs()
            s0, p0, h0 = cpu_of(procs), cpu_of(pg), self.hook.cpu_s()
            spy = self.start_profile(case_name)
            m0, c0, t0 = machine_busy_s(), time.process_time(), time.perf_counter()
            elapsed, sent = run_loop(load.run(rate, cfg.duration_s))
            wall = time.perf_counter() - t0
            cpu = {
                "server": 100 * (cpu_of(procs) - s0) / wall,
                "postgres": 100 * (cpu_of(pg) - p0) / wall,
                "webhook": 100 * (self.hook.cpu_s() - h0) / wall,
                "loadgen": 100 * (time.process_time() - c0) / wall,
                "machine": 100 * (machine_busy_s() - m0) / wall,
            }
            self.seq = load.seq
            result.ok_updates, result.failed_updates = load.ok_updates, load.failed_updates
            result.unsent, result.errors = load.unsent, load.errors
            result.achieved = load.ok_updates / elapsed
            ordered = sorted(load.request_s)
            if ordered:
                result.request_p50_ms = 1000 * ordered[len(ordered) // 2]
                result.request_p99_ms = 1000 * ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]
            result.expected = load.ok_updates * fanout
            before = self.hook.count(case_name)["items"]
            print(
                f"    sent {sent:,} updates in {elapsed:.1f} s ({load.ok_updates:,} ok, "
                f"{load.unsent:,} not sent); {before:,} notified entities so far; draining …",
                flush=True,
            )
            result.drain_s = self.wait_for(
                case_name, warm.ok_updates * fanout + result.expected, cfg.drain_s, 600.0
            )
            sampler.stop()
            if spy is not None:
                spy.wait(60)
            result.cpu, result.rss_mib, result.outbox_max = cpu, sampler.rss, sampler.outbox
            seen: set[tuple[int, int]] = set()
            for seq, sub, total_us, notified_us in self.hook.rows(case_name):
                if seq < first_seq or seq >= load.seq:
                    continue
                # One item per (change, matching subscription). The platform renders the entity
                # as it is when the change is matched, so a change matched after the entity was
                # updated again carries the newer value: its seq arrives twice ("stale") and
                # its latency is measured from the newer value's send (a lower bound).
                if (seq, sub) in seen:
                    result.duplicates += 1
                seen.add((seq, sub))
                result.received += 1
                result.latencies_us.append(total_us)
                result.queued_us.append(total_us - notified_us)
            result.posts = self.hook.count(case_name)["posts"] - posts0
            if self.probe.error:
                print(f"    outbox probe: {self.probe.error}")
            print(f"    {render_case(result)}", flush=True)
        finally:
            self.unsubscribe(subs)
        # Let what is left in the outbox go before the next case.
        deadline = time.monotonic() + 60
        while self.probe.outbox() > 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        return result

    def run(self) -> list[Case]:
        print(f"  creating {self.cfg.entities:,} entities …", flush=True)
        self.create_entities()
        try:
            return [self.run_case(k) for k in self.cfg.fanouts]
        finally:
            self.client.close()


def wait_for_quiet(max_wait_s: float, threshold: float = 25.0) -> tuple[float, float]:
    """Wait up to max_wait_s for the machine to be nearly idle; (waited, busy % of one core)."""
    started = time.monotonic()
    while True:
        busy = psutil.cpu_percent(interval=1.0) * (os.cpu_count() or 1)
        if busy < threshold or time.monotonic() - started >= max_wait_s:
            return time.monotonic() - started, busy


# --- report ------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "—"
    return "∞ (missing)" if math.isinf(seconds) else f"{seconds * 1000:,.0f}"


def render_case(c: Case) -> str:
    return (
        f"achieved {c.achieved:,.0f}/{c.offered:,.0f} updates/s; notified {c.received:,}/"
        f"{c.expected:,} in {c.posts:,} POSTs (drain {c.drain_s:.1f} s); p50 {ms(c.pct(0.5))}, "
        f"p99 {ms(c.pct(0.99))}, max {ms(c.pct(1.0))} ms; server CPU {c.cpu['server']:.0f}%, "
        f"RSS {c.rss_mib:.0f} MiB, outbox ≤ {c.outbox_max:,}"
    )


def render(cfg: Config, results: dict[str, list[Case]], capacity: dict[str, float]) -> str:
    how = (
        f"`POST {API}/entityOperations/update`, one request every {cfg.batch_ms:.0f} ms"
        if cfg.mode == "batch"
        else f"`PATCH {API}/entities/{{id}}/attrs`, one request per update"
    )
    lines = [
        "# Notification latency (entity update → webhook received)",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; command: `{cfg.command}`",
        f"- machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        f"- {cfg.entities:,} `{ENTITY_TYPE}` entities, {cfg.subscriptions} subscriptions "
        f"(q on `zone`, keyValues), updates by {how}, {cfg.clients} connections, "
        f"{cfg.duration_s:.0f} s measured after a {WARMUP_S:.0f} s warm-up; "
        f"integrator API key on every request",
        f"- webhook capacity (its own process, uvloop): {capacity['posts_s_1']:,.0f} POSTs/s on "
        f"one sequential connection ({capacity['cpu_us_1']:.0f} µs CPU each), "
        f"{capacity['posts_s_8']:,.0f} POSTs/s on 8",
        "- latency = webhook receive time − `sentUs` (stamped right before the update request "
        "is written), per notified entity (one per change and matching subscription); "
        "missing notifications count as infinitely late; 'stale': the item carried a newer "
        "value than its change (the entity is rendered when the change is matched), its "
        "latency is then a lower bound; 'queued' = `notifiedAt` (outbox row made) − `sentUs`",
        "- CPU in % of one core over the measured sending window",
        "",
        "| Backend | k | Offered upd/s | Achieved upd/s | Offered notif/s | Expected | Received "
        "| POSTs (entities/POST) | p50 ms | p95 ms | p99 ms | max ms | queued p50 / p99 ms "
        "| Update req p50 / p99 ms | Platform CPU % | RSS MiB | PostgreSQL CPU % "
        "| Webhook CPU % | Machine % | Outbox max | p99 ≤ 500 ms |",
        "|---|" + "---:|" * 19 + "---|",
    ]
    for backend, cases in results.items():
        for c in cases:
            pg = f"{c.cpu['postgres']:.0f}" if backend == "postgresql" else "—"
            per_post = c.received / c.posts if c.posts else 0
            lines.append(
                f"| {backend} | {c.fanout} | {c.offered:,.0f} | {c.achieved:,.0f} | "
                f"{c.offered * c.fanout:,.0f} | {c.expected:,} | {c.received:,}"
                + (f" ({c.duplicates:,} stale)" if c.duplicates else "")
                + f" | {c.posts:,} ({per_post:.1f}) | {ms(c.pct(0.5))} | {ms(c.pct(0.95))} | "
                f"{ms(c.pct(0.99))} | {ms(c.pct(1.0))} | "
                f"{ms(c.pct(0.5, 'queued'))} / {ms(c.pct(0.99, 'queued'))} | "
                f"{c.request_p50_ms:,.0f} / {c.request_p99_ms:,.0f} | {c.cpu['server']:.0f} | "
                f"{c.rss_mib:.0f} | {pg} | {c.cpu['webhook']:.0f} | {c.cpu['machine']:.0f} | "
                f"{c.outbox_max:,} | {'**PASS**' if c.pct(0.99) <= TARGET_P99_S else '**FAIL**'} |"
            )
    notes = [
        f"- {backend} k={c.fanout}: {c.unsent:,} updates not sent (client backlog), "
        f"{c.failed_updates:,} refused; {'; '.join(c.errors)}"
        for backend, cases in results.items()
        for c in cases
        if c.unsent or c.failed_updates
    ]
    return "\n".join(lines + (["", *notes] if notes else [])) + "\n"


# --- driver ----------------------------------------------------------------------------------


@contextmanager
def backend_database(cfg: Config, backend: str) -> Iterator[str | None]:
    if backend == "sqlite":
        yield None
        return
    import psycopg

    name = f"smartcity_bench_notify_{os.getpid()}"
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


def run_backend(cfg: Config, backend: str, hook: Webhook) -> list[Case]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"smartcity-notify-{backend}-"))
    print(f"\n== {backend}: data in {data_dir}", flush=True)
    try:
        with backend_database(cfg, backend) as pg_url:
            server = Server(data_dir, pg_url, cfg.workers, cfg.split)
            server.create_api_key()
            server.start()
            probe = DbProbe(backend, data_dir / "smartcity.db", pg_url)
            try:
                print(f"  server pid {server.proc.pid if server.proc else '?'}", flush=True)
                return Bench(cfg, backend, server, hook, probe).run()
            finally:
                probe.close()
                server.stop()
    finally:
        if cfg.keep:
            print(f"  kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="offered notifications/s = updates/s × k"
    )
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument(
        "--fanout",
        default="1,10",
        help="subscriptions each update matches, comma-separated (each divides --subscriptions)",
    )
    parser.add_argument("--mode", choices=["batch", "patch"], default="batch")
    parser.add_argument("--batch-ms", type=float, default=50.0, help="batch mode: ms per request")
    parser.add_argument("--clients", type=int, default=None, help="connections (batch 4, patch 32)")
    parser.add_argument(
        "--drain", type=float, default=15.0, help="stop waiting after this long without progress"
    )
    parser.add_argument("--quiet-wait", type=float, default=20.0, help="max wait for idle machine")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--workers", type=int, default=1, help="platform worker processes (one leads)"
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="API workers never lead; a `smartcity jobs` process does the feed and sending",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy record (raw, 100 Hz, --threads --nonblocking) the server during each case",
    )
    parser.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    fanouts = [int(k) for k in args.fanout.split(",")]
    if any(k < 1 or args.subscriptions % k for k in fanouts):
        parser.error("each --fanout must divide --subscriptions")
    if args.entities < args.subscriptions:
        parser.error("--entities must be at least --subscriptions")
    return Config(
        backends=["sqlite", "postgresql"] if args.backend == "both" else [args.backend],
        rate=args.rate,
        duration_s=args.duration,
        subscriptions=args.subscriptions,
        entities=args.entities,
        fanouts=fanouts,
        mode=args.mode,
        batch_ms=args.batch_ms,
        clients=args.clients or (4 if args.mode == "batch" else 32),
        drain_s=args.drain,
        quiet_wait_s=args.quiet_wait,
        pg_url=args.pg_url,
        keep=args.keep,
        profile=args.profile,
        results_dir=args.results_dir,
        workers=args.workers,
        split=args.split,
        command=" ".join(
            ["python benchmarks/notify_latency.py", *(sys.argv[1:] if argv is None else argv)]
        ),
    )


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    hook = Webhook()
    status = 0
    results: dict[str, list[Case]] = {}
    try:
        capacity = webhook_capacity(hook)
        print(
            f"webhook: {capacity['posts_s_1']:,.0f} POSTs/s on 1 connection "
            f"({capacity['cpu_us_1']:.0f} µs CPU each), {capacity['posts_s_8']:,.0f} on 8",
            flush=True,
        )
        for backend in cfg.backends:
            try:
                results[backend] = run_backend(cfg, backend, hook)
            except Exception as exc:
                print(f"\n== {backend} failed: {type(exc).__name__}: {exc}", flush=True)
                status = 1
    finally:
        hook.close()
    if results:
        text = render(cfg, results, capacity)
        cfg.results_dir.mkdir(parents=True, exist_ok=True)
        out = cfg.results_dir / "notify-latency.md"
        out.write_text(text)
        print("\n" + text + f"(written to {out})", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
