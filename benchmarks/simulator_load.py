"""Load test of the city simulator: ~100,000 simulated devices through the real ingestion API.

Starts the platform (`smartcity run --no-demo`, one worker) as a subprocess on a free port
with a fresh database (a SQLite file in a temporary data dir, or a scratch PostgreSQL
database `smartcity_bench_sim_<pid>` at --pg-url, trust auth, dropped afterwards), makes an
integrator API key with `smartcity keys create` and then drives the simulator of
src/smartcity/simulator from this process, through its HTTP transport, as `smartcity
simulate` does:

1. fleet: `build_fleet(seed, --scale)` (250 ≈ 102,000 devices): build time, this process's RSS;
2. provisioning: `HttpTransport.provision` (`/iot/services`, then `/iot/devices` in chunks of
   1,000): wall time, devices/s;
3. round: one `Simulator.tick(now)`, every device's current report, `--workers` threads
   sharing one httpx.Client with as many connections: requests/s, data points/s (attributes
   in the payloads), rejected requests, per-request latency p50/p95/p99;
4. live 1×: `SimClock` at real time for `--live-s` seconds, one tick per `--tick-s`;
5. live N×: `SimClock` at `--speed`, starting speed × live-s seconds in the past (so that it
   stays behind the real clock, which the platform requires), for `--live-s` seconds;
6. entities: `GET /ngsi-ld/v1/entities?type=T&count=true&limit=1` per entity type of the
   fleet (`NGSILD-Results-Count`) against the number of devices of that type.

Each live phase starts every device's schedule at its clock's start (see `schedule_from`).
Lag: for every live request, the simulated time when it was sent minus the timestamp of its
oldest measure, divided by the phase's speed: how many wall seconds after its due time a
report left. One tick per `--tick-s` makes up to one tick of lag normal; a simulator (or a
platform) that cannot keep up shows it as lag growing with the phase. Achieved speed: the
simulated time covered by completed ticks ÷ the wall time until the last of them completed
(a tick sends everything due until its clock reading, so this is how fast the simulation
really advanced; below the nominal speed when ticks run long).

CPU in % of one core over each stage (psutil): the server process tree, the PostgreSQL
backends of its database, this process (the simulator), the whole machine; the server's RSS
is the largest sampled each second. `--max-round-s` stops a round (or provisioning, with
--max-provision-s) that runs longer: the request hook refuses further requests and the table
shows what was done until then.

    .venv/bin/python benchmarks/simulator_load.py --scale 1 --live-s 10   # smoke, ~1 minute
    .venv/bin/python benchmarks/simulator_load.py                         # 100k devices, SQLite
    .venv/bin/python benchmarks/simulator_load.py --backend postgresql --scale 50
    .venv/bin/python benchmarks/simulator_load.py --profile    # + py-spy of server and simulator

Results also go to benchmarks/results/simulator-load-<backend>.md.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import psutil

from smartcity.simulator.fleet import Device, Fleet, build_fleet
from smartcity.simulator.runner import SimClock, Simulator
from smartcity.simulator.transport import Delivery, HttpTransport

ROOT = Path(__file__).resolve().parent.parent
# Provisional targets (issue 6), stated for 100,000 devices and applied as rates.
TARGET_PROVISION_S, TARGET_ROUND_S, TARGET_DEVICES = 600.0, 300.0, 100_000
TARGET_LAG_P99_S, TARGET_SPEED_SHARE = 5.0, 0.95


@dataclass
class Config:
    """The command line."""

    backend: str
    scale: float
    seed: int
    workers: int
    live_s: float
    speed: float
    tick_s: float
    max_provision_s: float
    max_round_s: float
    pg_url: str
    profile: bool
    py_spy: str
    keep: bool
    results_dir: Path
    command: str


# --- measuring -------------------------------------------------------------------------------


class GuardTripped(RuntimeError):
    """A stage ran past its time limit; the request hook refused to send more."""


class Guard:
    """A deadline for the current stage, checked before every HTTP request."""

    def __init__(self) -> None:
        self.deadline = math.inf
        self.tripped = False

    def check(self, _request: httpx.Request) -> None:
        """httpx request hook: refuse requests past the deadline."""
        if time.monotonic() > self.deadline:
            self.tripped = True
            raise GuardTripped("stage time limit reached")


@dataclass
class Tally:
    """What the measure requests of one stage did."""

    requests: int = 0
    rejected: int = 0
    measures: int = 0  # timestamped reports (a backfill-style array holds several)
    points: int = 0  # attributes in accepted reports
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(
        self, delivery: Delivery, seconds: float, shape: tuple[int, int], lag: float | None
    ) -> None:
        """Count one request."""
        self.requests += 1
        self.latencies.append(seconds)
        self.statuses[delivery.status] = self.statuses.get(delivery.status, 0) + 1
        if lag is not None:
            self.lags.append(lag)
        if delivery.error is not None:
            self.rejected += 1
            if len(self.errors) < 5:
                self.errors.append(f"{delivery.status} {delivery.error[:160]}")
            return
        self.measures += shape[0]
        self.points += shape[1]


def payload_shape(body: bytes) -> tuple[int, int, float | None]:
    """(reports, data points, oldest TimeInstant in epoch s) of one measure payload."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return 1, 0, None  # a faulty device's garbage
    reports = parsed if isinstance(parsed, list) else [parsed]
    points = sum(len([k for k in r if k != "TimeInstant"]) for r in reports)
    stamps = [r["TimeInstant"] for r in reports if isinstance(r.get("TimeInstant"), str)]
    oldest = min(datetime.fromisoformat(s).timestamp() for s in stamps) if stamps else None
    return len(reports), points, oldest


class TimedTransport(HttpTransport):
    """The simulator's HTTP transport, timing every measure request (src stays untouched)."""

    def __init__(self, client: httpx.Client, api_key: str) -> None:
        super().__init__(client, api_key)
        self.lock = threading.Lock()
        self.tally = Tally()
        # The phase's simulated clock and speed, for the lag; None outside live phases.
        self.clock: Callable[[], float] | None = None
        self.speed = 1.0

    def send(self, device: Device, body: bytes, get_commands: bool = False) -> Delivery:
        """Send as HttpTransport does; record latency, size and lag."""
        sent_at = self.clock() if self.clock is not None else None
        started = time.perf_counter()
        delivery = super().send(device, body, get_commands)
        seconds = time.perf_counter() - started
        reports, points, oldest = payload_shape(body)
        lag = None
        if sent_at is not None and oldest is not None:
            lag = (sent_at - oldest) / self.speed
        with self.lock:
            self.tally.add(delivery, seconds, (reports, points), lag)
        return delivery

    def fresh(self, clock: Callable[[], float] | None = None, speed: float = 1.0) -> Tally:
        """Start counting a new stage; the new tally."""
        with self.lock:
            self.tally, self.clock, self.speed = Tally(), clock, speed
        return self.tally


def process_tree(root: int) -> list[psutil.Process]:
    """A process and its children (uvicorn may fork)."""
    try:
        proc = psutil.Process(root)
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def cpu_s(procs: list[psutil.Process]) -> float:
    """user + system CPU seconds of live processes."""
    total = 0.0
    for proc in procs:
        with suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def rss_mib(procs: list[psutil.Process]) -> float:
    """Resident memory of processes together, MiB."""
    total = 0.0
    for proc in procs:
        with suppress(psutil.Error):
            total += proc.memory_info().rss / 2**20
    return total


def machine_busy_s() -> float:
    """CPU seconds the machine spent working since boot (all cores)."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0))


def pct(values: list[float], q: float) -> float:
    """Inclusive percentile (nearest rank); NaN for no values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


# --- the server under test -------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def smartcity_command() -> list[str]:
    """The CLI of this virtualenv."""
    script = Path(sys.executable).parent / "smartcity"
    return [str(script)] if script.exists() else [sys.executable, "-m", "smartcity.cli"]


class Server:
    """`smartcity run --no-demo` in a subprocess, and an integrator key for it."""

    def __init__(self, data_dir: Path, database_url: str | None) -> None:
        self.data_dir, self.database_url = data_dir, database_url
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.api_key = ""

    def _where(self) -> list[str]:
        where = ["--data-dir", str(self.data_dir)]
        return where + (["--database-url", self.database_url] if self.database_url else [])

    def _env(self) -> dict[str, str]:
        # The caller's SMARTCITY_* settings would make this run incomparable with others.
        return {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")}

    def create_api_key(self) -> None:
        """An integrator key (`smartcity keys create` prints it on its last line)."""
        cmd = [*smartcity_command(), "keys", "create", "--name", "simulator-load", *self._where()]
        result = subprocess.run(
            cmd, capture_output=True, text=True, cwd=self.data_dir, env=self._env(), timeout=120
        )
        lines = result.stdout.strip().splitlines()
        if result.returncode != 0 or not lines or not lines[-1].startswith("sck_"):
            raise RuntimeError(f"keys create failed:\n{result.stdout}\n{result.stderr}")
        self.api_key = lines[-1].strip()

    def start(self, timeout_s: float = 180) -> None:
        """Start the server and wait for /healthz."""
        cmd = [*smartcity_command(), "run", "--no-demo", "--port", str(self.port), *self._where()]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir, env=self._env()
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log_tail()}")
            with suppress(httpx.HTTPError):
                if httpx.get(self.base_url + "/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server did not answer /healthz:\n{self.log_tail()}")

    def procs(self) -> list[psutil.Process]:
        """The server's processes."""
        return process_tree(self.proc.pid) if self.proc is not None else []

    def stop(self) -> None:
        """SIGINT, then harder."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            self.proc.send_signal(sig)
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(wait_s)
                return

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


class PgBackends:
    """The PostgreSQL backend processes serving the benchmark's database (none on SQLite)."""

    def __init__(self, url: str | None) -> None:
        self.url = url

    def procs(self) -> list[psutil.Process]:
        """Backends connected to the database now (the server's pool keeps them open)."""
        if self.url is None:
            return []
        import psycopg

        sql = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        with psycopg.connect(self.url, autocommit=True) as conn:
            pids = [row[0] for row in conn.execute(sql, (self.url.rsplit("/", 1)[1],))]
        out = []
        for pid in pids:
            with suppress(psutil.Error):
                out.append(psutil.Process(pid))
        return out


# --- stages ----------------------------------------------------------------------------------


@dataclass
class Usage:
    """Wall time, CPU % of one core per party, and the server's peak RSS over a stage."""

    wall_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    server_rss_mib: float = 0.0


@dataclass
class Stage:
    """One measured stage."""

    name: str
    tally: Tally = field(default_factory=Tally)
    units: int = 0  # provisioning: devices created
    usage: Usage = field(default_factory=Usage)
    stopped: bool = False  # the guard ended it
    speed: float | None = None  # live phases: nominal
    achieved: float | None = None  # live phases: simulated s per wall s
    ticks: list[float] = field(default_factory=list)  # live phases: seconds per tick
    tick_s: float = 1.0

    @property
    def wall_s(self) -> float:
        """The stage's wall time."""
        return self.usage.wall_s

    @property
    def cpu(self) -> dict[str, float]:
        """CPU % of one core per party."""
        return self.usage.cpu


class Meter:
    """CPU of the parties over a stage, and the server's RSS sampled each second."""

    def __init__(self, server: Server, pg: PgBackends) -> None:
        self.server, self.pg = server, pg
        self.me = psutil.Process()
        self.peak_rss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(1.0):
            self.peak_rss = max(self.peak_rss, rss_mib(self.server.procs()))

    @contextmanager
    def measure(self) -> Iterator[Usage]:
        """Measure the body: the Usage is filled in when it ends."""
        procs, pg = self.server.procs(), self.pg.procs()
        before = (cpu_s(procs), cpu_s(pg), cpu_s([self.me]), machine_busy_s())
        self.peak_rss = rss_mib(procs)
        started = time.monotonic()
        usage = Usage()
        try:
            yield usage
        finally:
            usage.wall_s = time.monotonic() - started
            after = (cpu_s(procs), cpu_s(pg), cpu_s([self.me]), machine_busy_s())
            spent = [b - a for a, b in zip(before, after, strict=True)]
            shares = [100.0 * s / max(usage.wall_s, 1e-9) for s in spent]
            usage.cpu = dict(
                zip(("server", "postgres", "simulator", "machine"), shares, strict=True)
            )
            usage.server_rss_mib = max(self.peak_rss, rss_mib(procs))

    def close(self) -> None:
        """Stop sampling."""
        self._stop.set()


class Progress:
    """Prints the requests sent every 15 s while a long stage runs."""

    def __init__(self, transport: TimedTransport, label: str) -> None:
        self.transport, self.label = transport, label
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(15.0):
            sent = self.transport.tally.requests
            rate = sent / (time.monotonic() - started)
            print(f"    {self.label}: {sent:,} requests so far ({rate:,.0f}/s)", flush=True)

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()


class Profiler:
    """py-spy (raw collapsed stacks, 50 Hz, all threads) on the server and this process."""

    def __init__(self, cfg: Config, server: Server, tag: str) -> None:
        self.cfg, self.server, self.tag = cfg, server, tag
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Profiler:
        if not self.cfg.profile or self.server.proc is None:
            return self
        for who, pid in (("server", self.server.proc.pid), ("simulator", os.getpid())):
            out = self.cfg.results_dir / f"simulator-load-profile-{self.tag}-{who}.txt"
            cmd = [self.cfg.py_spy, "record", "--pid", str(pid), "--rate", "50", "--threads"]
            cmd += ["--nonblocking", "--format", "raw", "--output", str(out)]
            self.procs.append(
                subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        return self

    def __exit__(self, *_exc: object) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for proc in self.procs:
            with suppress(subprocess.TimeoutExpired):
                proc.wait(30)


def schedule_from(simulator: Simulator, start_s: float) -> None:
    """Start every device's schedule at start_s: the next tick sends what falls due after it.

    The runner keeps each device's last report time in `_last` and has no public way to set
    it. Without this, the 1× phase would first send everything that fell due while the
    round ran (minutes at scale 250) in one burst, and the accelerated phase, which starts in
    the past, would send nothing until its clock passed the reports already sent.
    """
    simulator._last = dict.fromkeys((d.device_id for d in simulator.fleet.devices), start_s)


def live_phase(
    cfg: Config, simulator: Simulator, transport: TimedTransport, guard: Guard, speed: float
) -> Stage:
    """Tick for --live-s wall seconds at `speed` (as Simulator.run does, timing each tick)."""
    start_s = time.time() - (speed * cfg.live_s if speed > 1 else 0.0)
    clock = SimClock(start_s, speed)
    schedule_from(simulator, start_s)
    stage = Stage(f"live {speed:g}×", speed=speed, tick_s=cfg.tick_s)
    stage.tally = transport.fresh(clock.now, speed)
    started = time.monotonic()
    covered, covered_at = start_s, started  # all reports due until `covered` sent by then
    # A tick that runs far past the phase (a simulator or platform far behind) is cut short.
    guard.deadline = started + 1.5 * cfg.live_s + 10.0
    try:
        while time.monotonic() - started < cfg.live_s:
            tick_started, now_s = time.monotonic(), clock.now()
            simulator.tick(now_s)
            covered, covered_at = now_s, time.monotonic()
            stage.ticks.append(covered_at - tick_started)
            time.sleep(max(0.0, cfg.tick_s - stage.ticks[-1]))
    except GuardTripped:
        stage.stopped = True
    finally:
        guard.deadline = math.inf
    stage.achieved = (covered - start_s) / max(covered_at - started, 1e-9)
    return stage


def provision(cfg: Config, transport: TimedTransport, fleet: Fleet, guard: Guard) -> Stage:
    """Provision the fleet, within --max-provision-s."""
    stage = Stage("provisioning")
    guard.deadline = time.monotonic() + cfg.max_provision_s
    try:
        _groups, stage.units = transport.provision(fleet)
    except GuardTripped:
        stage.stopped = True
    finally:
        guard.deadline = math.inf
    return stage


def full_round(cfg: Config, simulator: Simulator, transport: TimedTransport, guard: Guard) -> Stage:
    """One tick at now: every device's current report, within --max-round-s."""
    stage = Stage("round")
    stage.tally = transport.fresh()
    guard.deadline = time.monotonic() + cfg.max_round_s
    try:
        with Progress(transport, "round"):
            simulator.tick(time.time())
    except GuardTripped:
        stage.stopped = True
    finally:
        guard.deadline = math.inf
    return stage


def entity_counts(client: httpx.Client, fleet: Fleet) -> list[tuple[str, int, int]]:
    """(entity type, devices of that type, entities the platform counts)."""
    expected: dict[str, int] = {}
    for device in fleet.devices:
        expected[device.group.entity_type] = expected.get(device.group.entity_type, 0) + 1
    out = []
    for entity_type, count in sorted(expected.items(), key=lambda kv: -kv[1]):
        params: dict[str, str | int] = {"type": entity_type, "count": "true", "limit": 1}
        response = client.get("/ngsi-ld/v1/entities", params=params, timeout=300)
        found = int(response.headers.get("NGSILD-Results-Count", -1))
        out.append((entity_type, count, found))
    return out


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Report:
    """Everything one run measured."""

    backend: str
    devices: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    build_s: float = 0.0
    sim_rss_mib: float = 0.0
    fleet_rss_mib: float = 0.0
    steady_msgs_s: float = 0.0  # reports per second at 1×: Σ 1 / interval
    stages: list[Stage] = field(default_factory=list)
    entities: list[tuple[str, int, int]] = field(default_factory=list)
    server_log: str = ""
    load_avg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # at the start: other work here


def build(cfg: Config, report: Report) -> Fleet:
    """Build the fleet; record its size, build time and memory."""
    me = psutil.Process()
    rss0 = me.memory_info().rss / 2**20
    started = time.perf_counter()
    fleet = build_fleet(cfg.seed, cfg.scale)
    report.build_s = time.perf_counter() - started
    report.sim_rss_mib = me.memory_info().rss / 2**20
    report.fleet_rss_mib = report.sim_rss_mib - rss0
    report.devices = len(fleet.devices)
    report.by_kind = fleet.count_by_kind()
    report.steady_msgs_s = sum(1.0 / d.group.interval_s for d in fleet.devices)
    return fleet


def drive(cfg: Config, server: Server, pg: PgBackends, report: Report) -> None:
    """Fleet, provisioning, round, live phases and the entity check against a running server."""
    fleet = build(cfg, report)
    print(f"  fleet: {report.devices:,} devices in {report.build_s:.1f} s", flush=True)
    guard = Guard()
    limits = httpx.Limits(max_connections=cfg.workers, max_keepalive_connections=cfg.workers)
    headers = {"X-API-Key": server.api_key}
    meter = Meter(server, pg)
    with httpx.Client(
        base_url=server.base_url,
        headers=headers,
        limits=limits,
        timeout=120,
        event_hooks={"request": [guard.check]},
    ) as client:
        transport = TimedTransport(client, server.api_key)
        simulator = Simulator(fleet, transport, workers=cfg.workers)
        try:
            run_stages(cfg, server, meter, report, (fleet, simulator, transport, guard))
            report.entities = entity_counts(client, fleet)
        finally:
            meter.close()


def run_stages(
    cfg: Config,
    server: Server,
    meter: Meter,
    report: Report,
    parts: tuple[Fleet, Simulator, TimedTransport, Guard],
) -> None:
    """The measured stages in order; stop after provisioning if it was cut short."""
    fleet, simulator, transport, guard = parts
    steps: list[tuple[str, Callable[[], Stage]]] = [
        ("provisioning", lambda: provision(cfg, transport, fleet, guard)),
        ("round", lambda: full_round(cfg, simulator, transport, guard)),
        ("live 1×", lambda: live_phase(cfg, simulator, transport, guard, 1.0)),
        (f"live {cfg.speed:g}×", lambda: live_phase(cfg, simulator, transport, guard, cfg.speed)),
    ]
    for name, step in steps:
        print(f"  {name} …", flush=True)
        tag = name.replace(" ", "").replace("×", "x")
        with Profiler(cfg, server, tag), meter.measure() as usage:
            done = step()
        done.usage = usage
        report.stages.append(done)
        print(f"    {render_stage_line(done)}", flush=True)
        if name == "provisioning" and done.stopped:
            print("    provisioning cut short: stopping here", flush=True)
            return


@contextmanager
def database_url(cfg: Config) -> Iterator[str | None]:
    """None (SQLite in the data dir) or a scratch PostgreSQL database, dropped afterwards."""
    if cfg.backend == "sqlite":
        yield None
        return
    import psycopg

    name = f"smartcity_bench_sim_{os.getpid()}"
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


def run(cfg: Config) -> Report:
    """One backend: server up, drive, server down."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"smartcity-simload-{cfg.backend}-"))
    print(f"== {cfg.backend}: data in {data_dir}; load average {os.getloadavg()}", flush=True)
    report = Report(cfg.backend, load_avg=os.getloadavg())
    try:
        with database_url(cfg) as url:
            server = Server(data_dir, url)
            server.create_api_key()  # the CLI opens (and migrates) the same database
            server.start()
            try:
                drive(cfg, server, PgBackends(url), report)
            finally:
                server.stop()
                report.server_log = server.log_tail(10)
    finally:
        if not cfg.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    return report


# --- report ----------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    """Seconds as whole milliseconds; — for none."""
    return "—" if math.isnan(seconds) else f"{seconds * 1000:,.0f}"


def secs(seconds: float) -> str:
    """Seconds with one decimal; — for none."""
    return "—" if math.isnan(seconds) else f"{seconds:,.1f}"


def render_stage_line(s: Stage) -> str:
    """One progress line for a finished stage."""
    t = s.tally
    if s.name == "provisioning":
        line = f"{s.units:,} devices in {s.wall_s:.1f} s = {s.units / s.wall_s:,.0f}/s"
    else:
        line = (
            f"{t.requests:,} requests in {s.wall_s:.1f} s = {t.requests / s.wall_s:,.0f}/s, "
            f"{t.points / s.wall_s:,.0f} dp/s, rejected {t.rejected:,}, "
            f"p50/p99 {ms(pct(t.latencies, 0.5))}/{ms(pct(t.latencies, 0.99))} ms"
        )
    if s.achieved is not None:
        line += f", lag p99 {secs(pct(t.lags, 0.99))} s, achieved {s.achieved:,.2f}×"
    line += f"; server CPU {s.cpu.get('server', 0):.0f}%, sim CPU {s.cpu.get('simulator', 0):.0f}%"
    return line + (" (STOPPED by the time limit)" if s.stopped else "")


def stage_row(s: Stage, pg: bool) -> str:
    """One markdown row of the stage table."""
    t, wall = s.tally, max(s.wall_s, 1e-9)
    name = s.name + (" (cut)" if s.stopped else "")
    if s.name == "provisioning":
        work = f"{s.units:,} devices | {s.units / wall:,.0f} dev/s | — | — | — | — | —"
    else:
        lat = " / ".join(ms(pct(t.latencies, q)) for q in (0.5, 0.95, 0.99))
        work = (
            f"{t.requests:,} | {t.requests / wall:,.0f} | {t.measures:,} | {t.points:,} | "
            f"{t.points / wall:,.0f} | {t.rejected:,} | {lat}"
        )
    live = "— | — | —"
    if s.achieved is not None:
        over = sum(1 for d in s.ticks if d > s.tick_s)
        live = (
            f"{secs(pct(t.lags, 0.99))} / {secs(max(t.lags, default=math.nan))} | "
            f"{s.achieved:,.2f} of {s.speed:g} | {len(s.ticks)} ({over} > 1 s, max "
            f"{max(s.ticks, default=0):.1f} s)"
        )
    c = s.cpu
    pg_cpu = f"{c.get('postgres', 0):.0f}" if pg else "—"
    return (
        f"| {name} | {s.wall_s:,.1f} | {work} | {live} | {c.get('server', 0):.0f} | "
        f"{s.usage.server_rss_mib:,.0f} | {pg_cpu} | {c.get('simulator', 0):.0f} | "
        f"{c.get('machine', 0):.0f} |"
    )


def verdict(ok: bool) -> str:
    """PASS or FAIL, bold."""
    return "**PASS**" if ok else "**FAIL**"


def target_rows(report: Report) -> list[str]:
    """The provisional targets, as rates so that they apply at any scale."""
    by_name = {s.name: s for s in report.stages}
    rows = ["| Target | Measured | Verdict |", "|---|---:|---|"]
    prov, rnd = by_name.get("provisioning"), by_name.get("round")
    if prov is not None:
        need = TARGET_DEVICES / TARGET_PROVISION_S
        rate = prov.units / max(prov.wall_s, 1e-9)
        ok = rate >= need and not prov.stopped
        rows.append(
            f"| provisioning 100,000 devices ≤ {TARGET_PROVISION_S / 60:.0f} min "
            f"(≥ {need:,.0f} devices/s) | {rate:,.0f} devices/s "
            f"(100k in {TARGET_DEVICES / max(rate, 1e-9) / 60:,.1f} min) | {verdict(ok)} |"
        )
    if rnd is not None:
        need = TARGET_DEVICES / TARGET_ROUND_S
        rate = rnd.tally.requests / max(rnd.wall_s, 1e-9)
        ok = rate >= need and not rnd.stopped and rnd.tally.rejected == 0
        rows.append(
            f"| a full round of 100,000 devices ≤ {TARGET_ROUND_S / 60:.0f} min (≥ {need:,.0f} "
            f"requests/s, none rejected) | {rate:,.0f} requests/s (100k in "
            f"{TARGET_DEVICES / max(rate, 1e-9) / 60:,.1f} min), {rnd.tally.rejected:,} "
            f"rejected | {verdict(ok)} |"
        )
    rows += live_target_rows(report, by_name)
    return rows


def live_target_rows(report: Report, by_name: dict[str, Stage]) -> list[str]:
    """Real time keeps up: lag p99 within bounds and the simulated clock covered."""
    live = by_name.get("live 1×")
    if live is None or live.achieved is None:
        return []
    lag = pct(live.tally.lags, 0.99)
    ok = (
        lag <= TARGET_LAG_P99_S
        and live.achieved >= TARGET_SPEED_SHARE
        and not live.stopped
        and live.tally.rejected == 0
    )
    rate = live.tally.measures / max(live.wall_s, 1e-9)
    return [
        f"| live 1× keeps up with {report.devices:,} devices (expected {report.steady_msgs_s:,.0f} "
        f"reports/s): lag p99 ≤ {TARGET_LAG_P99_S:g} s, achieved ≥ {TARGET_SPEED_SHARE:g}×, "
        f"none rejected | {rate:,.0f} reports/s, lag p99 {secs(lag)} s, achieved "
        f"{live.achieved:.2f}×, {live.tally.rejected:,} rejected | {verdict(ok)} |"
    ]


def render(cfg: Config, report: Report) -> str:
    """The markdown report."""
    pg = report.backend == "postgresql"
    kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(report.by_kind.items(), key=lambda x: -x[1]))
    lines = [
        f"# Simulator load test — {report.backend}",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; command: `{cfg.command}`",
        f"- machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB "
        f"RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}; "
        f"load average at the start {' '.join(f'{x:.2f}' for x in report.load_avg)}",
        f"- fleet: scale {cfg.scale:g}, seed {cfg.seed}: {report.devices:,} devices ({kinds}); "
        f"built in {report.build_s:.1f} s; simulator RSS {report.sim_rss_mib:,.0f} MiB "
        f"(+{report.fleet_rss_mib:,.0f} MiB for the fleet)",
        f"- steady rate at 1×: {report.steady_msgs_s:,.1f} reports/s (Σ 1/interval); at "
        f"{cfg.speed:g}×: {report.steady_msgs_s * cfg.speed:,.0f} reports/s",
        f"- {cfg.workers} sending threads, one httpx.Client with {cfg.workers} connections; "
        f"live phases {cfg.live_s:g} s each, one tick per {cfg.tick_s:g} s",
        "- CPU in % of one core over the stage; lag in wall seconds (see the module docstring)",
        "",
        "| Stage | Wall s | Requests | Req/s | Reports | Data points | dp/s | Rejected "
        "| Latency p50 / p95 / p99 ms | Lag p99 / max s | Achieved speed | Ticks "
        "| Server CPU % | Server RSS MiB | PostgreSQL CPU % | Simulator CPU % | Machine % |",
        "|---|" + "---:|" * 16,
    ]
    lines += [stage_row(s, pg) for s in report.stages]
    lines += ["", *target_rows(report), ""]
    lines += entity_rows(report)
    lines += rejection_notes(report)
    return "\n".join(lines) + "\n"


def entity_rows(report: Report) -> list[str]:
    """The entity check: devices of each type against entities on the platform."""
    if not report.entities:
        return []
    rows = ["| Entity type | Devices | Entities on the platform | |", "|---|---:|---:|---|"]
    for entity_type, expected, found in report.entities:
        rows.append(
            f"| {entity_type} | {expected:,} | {found:,} | "
            f"{'ok' if found == expected else 'MISMATCH'} |"
        )
    return [*rows, ""]


def rejection_notes(report: Report) -> list[str]:
    """Status codes and the first errors of any stage that had rejections."""
    notes = []
    for s in report.stages:
        if s.tally.rejected:
            codes = ", ".join(f"{k}: {v:,}" for k, v in sorted(s.tally.statuses.items()))
            notes.append(f"- {s.name}: statuses {codes}; first errors: {s.tally.errors}")
    return notes


# --- driver ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> Config:
    """The command line as a Config."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--scale", type=float, default=250.0, help="fleet scale (250 ≈ 100k)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=8, help="sending threads = connections")
    parser.add_argument("--live-s", type=float, default=120.0, help="seconds per live phase")
    parser.add_argument("--speed", type=float, default=60.0, help="the accelerated phase's speed")
    parser.add_argument("--tick-s", type=float, default=1.0, help="seconds between live ticks")
    parser.add_argument("--max-provision-s", type=float, default=900.0)
    parser.add_argument("--max-round-s", type=float, default=600.0)
    parser.add_argument("--pg-url", default="postgresql://root@127.0.0.1:5432")
    parser.add_argument("--profile", action="store_true", help="py-spy the server and simulator")
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    parser.add_argument("--keep", action="store_true", help="keep the data dir / database")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    shown = sys.argv[1:] if argv is None else argv
    return Config(
        backend=args.backend,
        scale=args.scale,
        seed=args.seed,
        workers=args.workers,
        live_s=args.live_s,
        speed=args.speed,
        tick_s=args.tick_s,
        max_provision_s=args.max_provision_s,
        max_round_s=args.max_round_s,
        pg_url=args.pg_url,
        profile=args.profile,
        py_spy=args.py_spy,
        keep=args.keep,
        results_dir=args.results_dir,
        command=" ".join([".venv/bin/python benchmarks/simulator_load.py", *shown]),
    )


def main(argv: list[str] | None = None) -> int:
    """Run, print and save the report; 1 when a stage was cut short or entities are missing."""
    cfg = parse_args(argv)
    cfg.results_dir.mkdir(parents=True, exist_ok=True)
    report = run(cfg)
    text = render(cfg, report)
    out = cfg.results_dir / f"simulator-load-{cfg.backend}.md"
    out.write_text(text)
    print("\n" + text + f"(written to {out})", flush=True)
    complete = report.entities and all(e == f for _, e, f in report.entities)
    if any(s.stopped for s in report.stages) or not complete:
        print(f"server log tail:\n{report.server_log}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
