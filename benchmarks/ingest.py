"""Benchmark of device ingestion: simulated devices → Mosquitto → `smartcity ingest` → database.

For each backend (SQLite file, PostgreSQL scratch database) this provisions N devices
(IoT Agent JSON, 10 numeric attributes each) through the Python API, starts a private
Mosquitto on a free port and the MQTT ingest worker (`smartcity ingest`) as its own process,
and then, for each offered rate of the sweep:

- publisher processes (paho-mqtt, MQTT v5, QoS 1) send one message per device in turn,
  paced to the offered rate, for a fixed time; each message is `{"a0": …, …, "a9": …,
  "TimeInstant": <publish time, µs>}` on `/json/<apikey>/<device>/attrs`: 10 data points.
  Messages published and not yet stored are capped at `--window` (1,000): Mosquitto holds
  at most receive-maximum (1,000) in flight + 1,000 queued QoS 1 messages per session and
  drops the rest, and the worker acknowledges a message only after its batch is committed.
  So when the worker falls behind, the publishers wait instead of the broker dropping;
- a probe device publishes one value every 100 ms and this process polls the database
  every 5 ms for them: publish → stored latency, p50/p99;
- once the backlog has drained, the rows are counted: sustained data points/s = stored /
  (first publish → last row stored); lost = published − stored; broker drops from $SYS;
- CPU (psutil, % of one core) of the worker, its PostgreSQL backends, the publishers,
  Mosquitto and the whole machine; the worker's peak RSS; the load average.

Then the worker is stopped and the ceiling is measured on the same database: the same number
of rows, same shape (entity row update with its attribute index + history rows), written with
the repository's own batch functions (`update_entities` + `append_history`) in transactions
of 5,000 rows. ratio = best sustained ingest rate ÷ ceiling rows/s.

    .venv/bin/python benchmarks/ingest.py                 # both backends, about 15 minutes
    .venv/bin/python benchmarks/ingest.py --quick         # smoke run, about 3 minutes
    .venv/bin/python benchmarks/ingest.py --backend sqlite --rates 5000,max --duration 60

PostgreSQL is reached at --pg-url (trust auth): the benchmark creates
`smartcity_bench_ingest_<pid>` there and drops it afterwards (`--keep` keeps it and the
SQLite directory). `--mqtt-url` uses an existing broker instead of the private one; but the
worker subscribes to every device topic, so on a shared broker it also ingests (and
dead-letters) whatever other clients publish. Results also go to
benchmarks/results/ingest-<backend>.md.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson
import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

ROOT = Path(__file__).resolve().parent.parent
ENTITY_TYPE = "BenchSensor"
ATTR_IRI = "https://uri.etsi.org/ngsi-ld/default-context/{}"
PROBE = "probe"
MOSQUITTO_CONF = """listener {port} 127.0.0.1
allow_anonymous true
persistence false
# Mosquitto's default, spelled out: QoS 1 messages queued per session beyond those in flight.
max_queued_messages 1000
log_dest stdout
log_type error
log_type warning
log_type notice
sys_interval 1
"""
TARGET_DPS, TARGET_P99_S, TARGET_RATIO = 20_000, 1.0, 0.3


@dataclass
class Config:
    """The command line."""

    backends: list[str]
    devices: int
    attrs: int
    rates: list[int]  # offered data points/s; 0 = as fast as the window allows
    duration_s: float
    publishers: int
    window: int
    batch_max: int
    receive_max: int
    probe_every_s: float
    quiet_wait_s: float
    worker_env: dict[str, str]
    ceiling_batch: int
    mqtt_url: str | None  # None: a private Mosquitto on a free port
    pg_url: str
    keep: bool
    results_dir: Path
    command: str


@dataclass
class Step:
    """What one offered rate gave."""

    offered: int
    published: int = 0
    stored: int = 0
    seconds: float = math.nan
    publish_dps: float = 0.0
    latencies: list[float] = field(default_factory=list)
    lost_probes: int = 0
    backlog: int = 0  # most messages published and not yet stored, at 50 ms samples
    broker_held: int = 0  # most messages the broker held ($SYS, private broker only)
    broker_dropped: int = 0  # messages the broker dropped during the step (idem)
    cpu: dict[str, float] = field(default_factory=dict)
    rss_mib: float = 0.0
    load: float = 0.0

    @property
    def dps(self) -> float:
        return self.stored / self.seconds if self.seconds > 0 else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


@dataclass
class Report:
    """Everything measured on one backend."""

    backend: str
    steps: list[Step] = field(default_factory=list)
    ceiling: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    hwm_mib: float = 0.0


def device_id(index: int) -> str:
    return f"bench{index:05d}"


def entity_id(device: str) -> str:
    return f"urn:ngsi-ld:{ENTITY_TYPE}:{device}"


def iso_us(us: int) -> str:
    """Epoch µs as ISO 8601 with microseconds and Z (distinct for every message)."""
    moment = datetime.fromtimestamp(us // 1_000_000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{us % 1_000_000:06d}Z"


def now_us() -> int:
    return time.time_ns() // 1000


def mqtt_client(url: str, name: str) -> mqtt.Client:
    """A connected MQTT v5 client with its network loop running."""
    parsed = urlparse(url)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{name}-{uuid.uuid4().hex[:8]}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.connect(parsed.hostname or "127.0.0.1", parsed.port or 1883)
    client.loop_start()
    return client


# --- publisher processes -------------------------------------------------------------------


def publisher(
    index: int,
    cfg: Config,
    url: str,
    apikey: str,
    rate_msgs: float,
    start_at: float,
    allowed: Any,
    out: Any,
) -> None:
    """Publish for this process's devices (every `publishers`-th) until the time is up.

    Paced to rate_msgs/publishers messages/s (0: no pacing), never more than allowed/publishers
    messages ahead. Writes (sent, CPU seconds, publish seconds) to out[3*index:3*index+3].
    """
    client = mqtt_client(url, f"bench-pub{index}")
    acked = [0]
    client.on_publish = lambda *_a: acked.__setitem__(0, acked[0] + 1)
    topics = [
        f"/json/{apikey}/{device_id(d)}/attrs" for d in range(index, cfg.devices, cfg.publishers)
    ]
    keys = [f"a{j}" for j in range(cfg.attrs)]
    share = rate_msgs / cfg.publishers
    rng = random.Random(index)
    time.sleep(max(0.0, start_at - time.time()))
    cpu0, t0, sent = time.process_time(), time.monotonic(), 0
    while (elapsed := time.monotonic() - t0) < cfg.duration_s:
        due = int(elapsed * share) + 1 if share else sent + 100
        due = min(due, allowed.value // cfg.publishers)
        while sent < due:
            body: dict[str, Any] = {k: round(rng.uniform(0, 100), 2) for k in keys}
            body["TimeInstant"] = iso_us(now_us())
            client.publish(topics[sent % len(topics)], orjson.dumps(body), qos=1)
            sent += 1
        out[3 * index] = sent
        time.sleep(0.002)
    spent = time.monotonic() - t0
    deadline = time.monotonic() + 60
    while acked[0] < sent and time.monotonic() < deadline:  # bounded wait for PUBACKs
        time.sleep(0.01)
    out[3 * index : 3 * index + 3] = [sent, time.process_time() - cpu0, spent]
    client.disconnect()
    client.loop_stop()


class SysStats:
    """Mosquitto's $SYS counters (the private broker sends them every second)."""

    def __init__(self, client: mqtt.Client) -> None:
        self.held = self.dropped = self.peak = 0
        client.on_message = self._on_message
        client.subscribe("$SYS/broker/store/messages/count")
        client.subscribe("$SYS/broker/publish/messages/dropped")

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        value = int(message.payload)
        if message.topic.endswith("/dropped"):
            self.dropped = value
        else:
            self.held, self.peak = value, max(self.peak, value)


# --- the database side ---------------------------------------------------------------------


class Poller:
    """Cheap reads on the benchmark database through the bare driver."""

    def __init__(self, backend: str, url: str) -> None:
        self.backend = backend
        if backend == "sqlite":
            path = url.split("///", 1)[1]
            self.conn: Any = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            self.conn.isolation_level = None
            self.mark = "?"
        else:
            import psycopg

            self.conn = psycopg.connect(url, autocommit=True)
            self.mark = "%s"

    def one(self, sql: str, *args: Any) -> Any:
        row = self.conn.execute(sql.replace("?", self.mark), args).fetchone()
        return row[0] if row else None

    def max_pk(self) -> int:
        return int(self.one("SELECT max(pk) FROM attr_history") or 0)

    def count_after(self, pk: int) -> int:
        return int(self.one("SELECT count(*) FROM attr_history WHERE pk > ?", pk))

    def seen(self, entity: str, attr: str, since_us: int) -> list[int]:
        """observedAt of the stored values of this attribute from since_us on."""
        sql = "SELECT observed_at FROM attr_history WHERE entity_id = ? AND attr = ? AND "
        sql += "observed_at >= ?"
        rows = self.conn.execute(sql.replace("?", self.mark), (entity, attr, since_us))
        return [int(row[0]) for row in rows.fetchall()]

    def backend_pids(self, dbname: str) -> list[int]:
        if self.backend == "sqlite":
            return []
        sql = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        return [row[0] for row in self.conn.execute(sql, (dbname,))]

    def close(self) -> None:
        self.conn.close()


def wait_for_quiet(max_wait_s: float, threshold: float = 25.0) -> tuple[float, float]:
    """Wait up to max_wait_s for the machine to be nearly idle (other work on the cores).

    Returns (seconds waited, busy % of one core over the last second)."""
    started = time.monotonic()
    while True:
        busy = psutil.cpu_percent(interval=1.0) * (os.cpu_count() or 1)
        if busy < threshold or time.monotonic() - started >= max_wait_s:
            return time.monotonic() - started, busy


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """user + system CPU seconds per live process."""
    out = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        out[pid] = times.user + times.system
    return out


def machine_busy() -> float:
    """CPU seconds the machine spent on work since boot (all cores; not idle, I/O wait, steal)."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0))


def mosquitto_pids(private: int | None) -> list[int]:
    if private is not None:
        return [private]
    return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "mosquitto"]


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- one backend ---------------------------------------------------------------------------


class Bench:
    """Provisioning, the worker process and the sweep on one database."""

    sys: SysStats  # set in run(), once the probe client is connected

    def __init__(
        self,
        cfg: Config,
        backend: str,
        url: str,
        data_dir: Path,
        mqtt: tuple[str, Path, int | None],
    ) -> None:
        self.cfg, self.backend, self.url, self.data_dir = cfg, backend, url, data_dir
        self.mqtt_url, self.mqtt_log, self.mqtt_pid = mqtt
        tag = uuid.uuid4().hex[:8]
        self.apikey, self.group, self.client_id = f"bk{tag}", f"bench{tag}", f"bench-ingest-{tag}"
        self.report = Report(backend)
        self.worker: subprocess.Popen[bytes] | None = None
        self.dbname = url.rsplit("/", 1)[1] if backend == "postgresql" else ""

    def provision(self) -> None:
        """Migrate, then one service group and devices+1 (the probe) through the Python API."""
        from smartcity.config import Settings, normalize_database_url
        from smartcity.core.context.service import ContextBroker
        from smartcity.core.db import open_database
        from smartcity.core.events import EventBus
        from smartcity.core.ingest.runtime import build_ingest
        from smartcity.core.ingest.schemas import AttributeIn, DeviceIn, GroupIn
        from smartcity.core.migrate import upgrade

        database = open_database(normalize_database_url(self.url))
        try:
            upgrade(database)
            state = build_ingest(
                Settings(data_dir=self.data_dir), database, ContextBroker(database), EventBus()
            )
            attrs = [AttributeIn(object_id=f"a{j}", name=f"a{j}") for j in range(self.cfg.attrs)]
            group = GroupIn(apikey=self.apikey, entity_type=ENTITY_TYPE, attributes=attrs)
            state.devices.create_groups([group], "bench", lambda _t: True)
            names = [device_id(d) for d in range(self.cfg.devices)] + [PROBE]
            devices = [
                DeviceIn(
                    device_id=name,
                    apikey=self.apikey,
                    entity_name=entity_id(name),
                    entity_type=ENTITY_TYPE,
                    attributes=attrs,
                )
                for name in names
            ]
            for first in range(0, len(devices), 1000):
                state.devices.create_devices(
                    devices[first : first + 1000], "bench", lambda _t: True
                )
        finally:
            database.dispose()

    def start_worker(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")}
        env |= {
            "SMARTCITY_MQTT_SHARE_GROUP": self.group,
            "SMARTCITY_MQTT_SESSION_EXPIRY_S": "10",  # the broker forgets the session soon
            "SMARTCITY_INGEST_BATCH_MAX": str(self.cfg.batch_max),
            "SMARTCITY_MQTT_RECEIVE_MAXIMUM": str(self.cfg.receive_max),
        } | self.cfg.worker_env
        cmd = [str(Path(sys.executable).parent / "smartcity"), "ingest", "--data-dir"]
        cmd += [str(self.data_dir), "--database-url", self.url, "--mqtt-url", self.mqtt_url]
        cmd += ["--client-id", self.client_id]
        with (self.data_dir / "worker.log").open("wb") as log:
            self.worker = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir, env=env
            )

    def stop_worker(self) -> None:
        if self.worker is None or self.worker.poll() is not None:
            return
        self.report.hwm_mib = vm_hwm_mib(self.worker.pid)
        self.worker.send_signal(signal.SIGINT)
        try:
            self.worker.wait(30)
        except subprocess.TimeoutExpired:
            self.worker.kill()
            self.worker.wait(10)

    def wait_stored(self, poller: Poller, base: int, expected: int, idle_s: float) -> float:
        """Poll until `expected` rows past pk `base` are there, or nothing new for idle_s.
        Returns the monotonic time the last row was seen."""
        last, seen_at = -1, time.monotonic()
        while True:
            count = poller.max_pk() - base
            if count != last:
                last, seen_at = count, time.monotonic()
            if count >= expected or time.monotonic() - seen_at > idle_s:
                return seen_at
            time.sleep(0.05)

    def warm_up(self, poller: Poller, probe: mqtt.Client) -> None:
        """Wait for the worker's subscription, then one message per device (fills its caches)."""
        attr = ATTR_IRI.format("a0")
        for _ in range(120):  # up to 60 s
            if self.worker is not None and self.worker.poll() is not None:
                raise RuntimeError(f"worker exited: {(self.data_dir / 'worker.log').read_text()}")
            us = now_us()
            probe.publish(f"/json/{self.apikey}/{PROBE}/attrs", probe_payload(us), qos=1)
            time.sleep(0.5)
            if us in poller.seen(entity_id(PROBE), attr, us):
                break
        else:
            raise RuntimeError("the ingest worker stored nothing in 60 s")
        base = poller.max_pk()
        for d in range(self.cfg.devices):
            body = {f"a{j}": 1.0 for j in range(self.cfg.attrs)} | {"TimeInstant": iso_us(now_us())}
            probe.publish(f"/json/{self.apikey}/{device_id(d)}/attrs", orjson.dumps(body), qos=1)
            if d % 200 == 199:
                time.sleep(0.1)
        self.wait_stored(poller, base, self.cfg.devices * self.cfg.attrs, idle_s=15)

    def run_step(self, poller: Poller, probe: mqtt.Client, offered: int) -> Step:
        """Publish at `offered` data points/s for the configured time and measure."""
        cfg, step = self.cfg, Step(offered)
        ctx = get_context("spawn")
        allowed = ctx.Value("q", cfg.window, lock=False)
        out = ctx.Array("d", 3 * cfg.publishers, lock=False)
        start_at = time.time() + 3.0  # the publishers' start-up (spawn) happens before it
        rate_msgs = offered / cfg.attrs
        procs = [
            ctx.Process(
                target=publisher,
                args=(i, cfg, self.mqtt_url, self.apikey, rate_msgs, start_at, allowed, out),
            )
            for i in range(cfg.publishers)
        ]
        for proc in procs:
            proc.start()
        assert self.worker is not None
        worker = psutil.Process(self.worker.pid)
        base = poller.max_pk()
        time.sleep(max(0.0, start_at - time.time()))
        t0 = time.monotonic()
        pg0 = cpu_seconds(poller.backend_pids(self.dbname))
        own0 = cpu_seconds([self.worker.pid, *mosquitto_pids(self.mqtt_pid)])
        busy0, load0 = machine_busy(), os.getloadavg()[0]
        held0, dropped0, self.sys.peak = self.sys.held, self.sys.dropped, 0
        attr, probes = ATTR_IRI.format("a0"), 0
        pending: set[int] = set()  # probe values published, not seen yet (µs)
        next_probe = next_progress = t0
        while any(proc.is_alive() for proc in procs) or (
            pending and time.monotonic() - t0 < cfg.duration_s + 60
        ):
            now = time.monotonic()
            if pending:
                for us in set(poller.seen(entity_id(PROBE), attr, min(pending))) & pending:
                    step.latencies.append(time.time() - us / 1e6)
                    pending.discard(us)
            if now - t0 < cfg.duration_s and now >= next_probe:
                us = now_us()
                probe.publish(f"/json/{self.apikey}/{PROBE}/attrs", probe_payload(us), qos=1)
                pending.add(us)
                next_probe, probes = now + cfg.probe_every_s, probes + 1
            if now >= next_progress:
                stored_msgs = (poller.max_pk() - base) // cfg.attrs
                allowed.value = stored_msgs + cfg.window
                sent_now = sum(int(out[3 * i]) for i in range(cfg.publishers))
                step.backlog = max(step.backlog, sent_now - stored_msgs)
                step.rss_mib = max(step.rss_mib, worker.memory_info().rss / 2**20)
                next_progress = now + 0.05
            time.sleep(0.005)
        step.lost_probes = len(pending)
        for proc in procs:
            proc.join(30)
        sent = int(sum(out[3 * i] for i in range(cfg.publishers)))
        step.publish_dps = sent * cfg.attrs / max(out[3 * i + 2] for i in range(cfg.publishers))
        step.published = sent * cfg.attrs + probes
        allowed.value = 1 << 60
        last = self.wait_stored(poller, base, step.published, idle_s=10)
        step.seconds = last - t0
        wall = time.monotonic() - t0
        own1 = cpu_seconds([self.worker.pid, *mosquitto_pids(self.mqtt_pid)])
        pg1 = cpu_seconds(poller.backend_pids(self.dbname))
        busy1 = machine_busy()
        step.stored = poller.count_after(base)
        time.sleep(1.5)  # the next $SYS update
        step.broker_held = self.sys.peak - held0
        step.broker_dropped = self.sys.dropped - dropped0

        def pct(before: dict[int, float], after: dict[int, float], pids: list[int]) -> float:
            return 100 * sum(after.get(p, 0.0) - before.get(p, 0.0) for p in pids) / wall

        step.cpu = {
            "worker": pct(own0, own1, [self.worker.pid]),
            "postgres": pct(pg0, pg1, list(pg1)),
            "mosquitto": pct(own0, own1, mosquitto_pids(self.mqtt_pid)),
            "publishers": 100 * sum(out[3 * i + 1] for i in range(cfg.publishers)) / wall,
            "machine": 100 * (busy1 - busy0) / wall,
            "worker_us_per_dp": 1e6
            * (own1[self.worker.pid] - own0[self.worker.pid])
            / max(1, step.stored),
        }
        step.load = max(load0, os.getloadavg()[0])
        return step

    def ceiling(self, rows: int) -> None:
        """The same number of rows, same shape, through the repository's batch functions."""
        from smartcity.config import normalize_database_url
        from smartcity.core.context.repository import (
            HistoryRow,
            append_history,
            get_entities,
            update_entities,
        )
        from smartcity.core.context.times import format_us
        from smartcity.core.db import open_database

        cfg = self.cfg
        database = open_database(normalize_database_url(self.url))
        per_batch = max(1, min(cfg.devices, cfg.ceiling_batch // cfg.attrs))
        ids = [entity_id(device_id(d)) for d in range(cfg.devices)]
        with database.read() as conn:
            records = get_entities(conn, ids)

        def batches(start: int) -> Iterator[tuple[list[Any], list[HistoryRow]]]:
            """`rows` rows in batches, each row with its own observedAt from `start` on."""
            for first in range(0, rows, per_batch * cfg.attrs):
                chosen = [
                    records[ids[(first // cfg.attrs + k) % len(ids)]] for k in range(per_batch)
                ]
                history, stamp = [], format_us(now_us())
                for k, record in enumerate(chosen):
                    at = start + first + k  # one observedAt per message, as a device sends
                    for j in range(cfg.attrs):
                        name = ATTR_IRI.format(f"a{j}")
                        instance = {"type": "Property", "value": float(j), "observedAt": iso_us(at)}
                        instance |= {"createdAt": stamp, "modifiedAt": stamp}
                        record.attrs[name] = [instance]
                        history.append(
                            HistoryRow(record.id, ENTITY_TYPE, name, None, at, float(j), instance)
                        )
                yield chosen, history

        try:
            for label, with_entities in (("history", False), ("entities+history", True)):
                prepared = list(batches(now_us() + (2 * rows if with_entities else 0)))
                made = sum(len(history) for _, history in prepared)
                t0 = time.perf_counter()
                for chosen, history in prepared:
                    with database.write() as conn:
                        if with_entities:
                            update_entities(conn, chosen)
                        append_history(conn, history)
                self.report.ceiling[label] = made / (time.perf_counter() - t0)
        finally:
            database.dispose()

    def run(self) -> Report:
        cfg = self.cfg
        print(f"  provisioning {cfg.devices:,} devices …", flush=True)
        self.provision()
        self.start_worker()
        poller = Poller(self.backend, self.url)
        probe = mqtt_client(self.mqtt_url, "bench-probe")
        self.sys = SysStats(probe)
        try:
            self.warm_up(poller, probe)
            for offered in cfg.rates:
                shown = f"{offered:,} dp/s" if offered else "max (window-bound)"
                waited, busy = wait_for_quiet(cfg.quiet_wait_s)
                print(f"  (waited {waited:.0f} s for the machine: {busy:.0f}% busy)", flush=True)
                print(f"  offered {shown} for {cfg.duration_s:.0f} s …", flush=True)
                step = self.run_step(poller, probe, offered)
                self.report.steps.append(step)
                print(f"    {render_step(step)}", flush=True)
        finally:
            probe.disconnect()
            probe.loop_stop()
            self.stop_worker()
            poller.close()
        drops = dropped_in_log(self.mqtt_log, self.client_id)
        if drops:
            self.report.notes.append(f"Mosquitto log: {drops} 'messages are being dropped' lines")
        rows = max((s.stored for s in self.report.steps), default=0)
        print(f"  ceiling: {rows:,} rows …", flush=True)
        self.ceiling(rows)
        return self.report


def probe_payload(us: int) -> bytes:
    return orjson.dumps({"a0": 1.0, "TimeInstant": iso_us(us)})


def dropped_in_log(log: Path, client_id: str) -> int:
    """Lines in Mosquitto's log saying it dropped messages for the worker's session."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return 0
    return sum(1 for line in text.splitlines() if "dropped" in line and client_id in line)


@contextmanager
def mosquitto(cfg: Config, data_dir: Path) -> Iterator[tuple[str, Path, int | None]]:
    """(MQTT URL, log file, broker pid): a private broker unless --mqtt-url names one.

    The platform's worker subscribes to every device topic (`/+/+/attrs`, …): on a shared
    broker it would also get, and dead-letter, whatever other clients publish there.
    """
    if cfg.mqtt_url:
        yield cfg.mqtt_url, Path("/var/log/mosquitto/mosquitto.log"), None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    conf, log_path = data_dir / "mosquitto.conf", data_dir / "mosquitto.log"
    conf.write_text(MOSQUITTO_CONF.format(port=port))
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"mqtt://127.0.0.1:{port}", log_path, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


# --- report --------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds * 1000:,.0f}"


def render_step(step: Step) -> str:
    return (
        f"stored {step.stored:,}/{step.published:,} dp in {step.seconds:.1f} s = "
        f"{step.dps:,.0f} dp/s; backlog ≤ {step.backlog:,} msgs (broker held ≤ "
        f"{step.broker_held:,}, dropped {step.broker_dropped:,}); "
        f"p50 {ms(step.pct(0.5))} ms, p99 {ms(step.pct(0.99))} ms; "
        f"worker CPU {step.cpu['worker']:.0f}%, RSS {step.rss_mib:.0f} MiB"
    )


def verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def render(cfg: Config, report: Report) -> str:
    """The markdown report of one backend."""
    cores = os.cpu_count()
    lines = [
        f"# Ingest benchmark — {report.backend}",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; command: `{cfg.command}`",
        f"- machine: {cores} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        f"- {cfg.devices:,} devices × {cfg.attrs} attributes, QoS 1, {cfg.publishers} publisher "
        f"processes, {cfg.duration_s:.0f} s per rate, window {cfg.window:,} messages, "
        f"SMARTCITY_INGEST_BATCH_MAX={cfg.batch_max}, receive maximum {cfg.receive_max}"
        + "".join(f", {k}={v}" for k, v in cfg.worker_env.items()),
        "- CPU in % of one core over first publish → drained; µs/dp = worker CPU per data point",
        "",
        "| Offered dp/s | Published dp/s | Stored dp | Lost (broker drops) | Sustained dp/s "
        "| p50 ms | p99 ms | Probes | Worker CPU % | µs/dp | PostgreSQL % | Publishers % "
        "| Mosquitto % | Machine % | Worker RSS MiB | Load avg |",
        "|" + "---:|" * 16,
    ]
    for s in report.steps:
        c = s.cpu
        pg = f"{c['postgres']:.0f}" if report.backend == "postgresql" else "—"
        probes = f"{len(s.latencies)}" + (f" (+{s.lost_probes} lost)" if s.lost_probes else "")
        lines.append(
            f"| {f'{s.offered:,}' if s.offered else 'max'} | {s.publish_dps:,.0f} | "
            f"{s.stored:,} | {s.published - s.stored:,} ({s.broker_dropped:,}) | {s.dps:,.0f} | "
            f"{ms(s.pct(0.5))} | {ms(s.pct(0.99))} | {probes} | "
            f"{c['worker']:.0f} | {c['worker_us_per_dp']:.0f} | {pg} | {c['publishers']:.0f} | "
            f"{c['mosquitto']:.0f} | {c['machine']:.0f} | {s.rss_mib:.0f} | {s.load:.2f} |"
        )
    clean = [s for s in report.steps if s.published == s.stored] or report.steps
    best = max(clean, key=lambda s: s.dps)
    at_target = min(report.steps, key=lambda s: abs((s.offered or 1e12) - TARGET_DPS))
    ceiling = report.ceiling.get("entities+history", math.nan)
    ratio = best.dps / ceiling if ceiling else math.nan
    lines += [
        "",
        f"Ceiling (same rows, `update_entities` + `append_history`, {cfg.ceiling_batch:,} "
        f"rows per transaction): {ceiling:,.0f} rows/s; history rows alone: "
        f"{report.ceiling.get('history', math.nan):,.0f} rows/s. "
        f"Worker peak RSS (VmHWM): {report.hwm_mib:.0f} MiB.",
        "",
        "| Metric | Measured | Target | Verdict |",
        "|---|---:|---|---|",
        f"| sustained dp/s (best rate without drops) | {best.dps:,.0f} | ≥ {TARGET_DPS:,} | "
        f"{verdict(best.dps >= TARGET_DPS)} |",
        f"| p99 publish → stored at {at_target.offered:,} dp/s offered | "
        f"{ms(at_target.pct(0.99))} ms | ≤ {TARGET_P99_S * 1000:,.0f} ms | "
        f"{verdict(at_target.pct(0.99) <= TARGET_P99_S)} |",
        f"| ratio to the ceiling | {ratio:.2f} | ≥ {TARGET_RATIO} | "
        f"{verdict(ratio >= TARGET_RATIO)} |",
    ]
    lines += ["", "Backlog per rate (messages published, not stored / held by the broker):"]
    lines += [
        f"- {f'{s.offered:,}' if s.offered else 'max'}: ≤ {s.backlog:,} / ≤ {s.broker_held:,}"
        for s in report.steps
    ]
    lines += [f"- {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


# --- driver --------------------------------------------------------------------------------


@contextmanager
def backend_url(cfg: Config, backend: str, data_dir: Path) -> Iterator[str]:
    """A fresh database: a SQLite file in data_dir, or a scratch PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{data_dir / 'smartcity.db'}"
        return
    import psycopg

    name = f"smartcity_bench_ingest_{os.getpid()}"
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


def run_backend(cfg: Config, backend: str) -> Report:
    data_dir = Path(tempfile.mkdtemp(prefix=f"smartcity-ingest-{backend}-"))
    print(f"\n== {backend}: data in {data_dir}; load average {os.getloadavg()}", flush=True)
    try:
        with backend_url(cfg, backend, data_dir) as url, mosquitto(cfg, data_dir) as mqtt:
            return Bench(cfg, backend, url, data_dir, mqtt).run()
    finally:
        if not cfg.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="200 devices, 8 s, 2 rates")
    parser.add_argument("--devices", type=int, default=None, help="(1000)")
    parser.add_argument("--attrs", type=int, default=10, help="attributes per message")
    parser.add_argument(
        "--rates", default=None, help="offered data points/s, 'max' = window-bound (2000,…,40000)"
    )
    parser.add_argument("--duration", type=float, default=None, help="seconds per rate (30)")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes")
    parser.add_argument("--window", type=int, default=1000, help="max messages in flight")
    parser.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="SMARTCITY_X=V",
        help="a setting for the worker (repeatable), e.g. SMARTCITY_DEVICE_CACHE_S=3600",
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=30.0, help="max seconds to wait for an idle machine"
    )
    parser.add_argument("--batch-max", type=int, default=5000, help="SMARTCITY_INGEST_BATCH_MAX")
    parser.add_argument("--receive-max", type=int, default=1000, help="worker receive maximum")
    parser.add_argument("--probe-every", type=float, default=0.1, help="seconds between probes")
    parser.add_argument("--ceiling-batch", type=int, default=5000, help="rows per transaction")
    parser.add_argument(
        "--mqtt-url", default=None, help="an existing broker (default: start a private Mosquitto)"
    )
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--keep", action="store_true", help="keep the data dir / database")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    rates = args.rates or ("5000,20000" if args.quick else "2000,5000,10000,20000,40000")
    return Config(
        backends=["sqlite", "postgresql"] if args.backend == "both" else [args.backend],
        devices=args.devices or (200 if args.quick else 1000),
        attrs=args.attrs,
        rates=[0 if r.strip() == "max" else int(r.replace("_", "")) for r in rates.split(",")],
        duration_s=args.duration or (8.0 if args.quick else 30.0),
        publishers=args.publishers,
        window=args.window,
        batch_max=args.batch_max,
        receive_max=args.receive_max,
        probe_every_s=args.probe_every,
        quiet_wait_s=args.quiet_wait,
        worker_env=dict(item.split("=", 1) for item in args.worker_env),
        ceiling_batch=args.ceiling_batch,
        mqtt_url=args.mqtt_url,
        pg_url=args.pg_url,
        keep=args.keep,
        results_dir=args.results_dir,
        command=" ".join(
            ["python benchmarks/ingest.py", *(sys.argv[1:] if argv is None else argv)]
        ),
    )


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    cfg.results_dir.mkdir(parents=True, exist_ok=True)
    status = 0
    for backend in cfg.backends:
        try:
            report = run_backend(cfg, backend)
        except Exception as exc:
            print(f"\n== {backend} failed: {type(exc).__name__}: {exc}", flush=True)
            status = 1
            continue
        text = render(cfg, report)
        out = cfg.results_dir / f"ingest-{backend}.md"
        out.write_text(text)
        print("\n" + text + f"(written to {out})", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
