"""The IOC map with tens of thousands of markers: layer endpoint, first useful map, frame times.

Starts the real platform (`smartcity run --no-demo`, SQLite in a temporary data dir) on a
free port, with an integrator API key and an operator account made by the CLI beforehand,
and measures, in headless Chromium (Debian's, driven by Playwright, WebGL by SwiftShader):

0. a baseline: the first useful map before any marker exists;

then writes `--markers` `Streetlight` entities (name, status with ~3 % "defectiveLamp", a
Point spread over Cần Thơ) through `POST /ngsi-ld/v1/entityOperations/upsert` in batches of
1,000, and measures:

1. `GET /api/map/layers/streetlights` over HTTP: the cold first build, rebuilds once the
   2 s layer cache has expired, cached answers (gzip and identity), the payload raw and
   gzipped; and the server-side build alone (`LayerBuilder.build`: query, pack, JSON, gzip)
   run in this process on the same database;
2. the first useful map: navigation start → `body[data-map-ready=true]` (markers drawn, map
   idle), with a cold browser cache (a new context) and a warm one (a second tab in it),
   and where the time went (resource timings);
3. frame times (intervals between requestAnimationFrame callbacks): idle, dragging the map in
   circles at zoom 11 (clusters), zooming 11 ↔ 15, dragging at zoom 15 (single markers), and
   dragging through the page's 10 s reload of its layers.

SwiftShader rasterises on the CPU, so frame times are pessimistic against a real GPU. The
CPU used by other processes during each measurement is reported: the machine may be shared.

    .venv/bin/python benchmarks/ioc_map.py                                   # 20,000 markers
    .venv/bin/python benchmarks/ioc_map.py --markers 2000 --repeat 2 --pan-seconds 2  # smoke

The table also goes to benchmarks/results/ioc-map.md (git-ignored).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import math
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psutil

from smartcity.config import Settings
from smartcity.core.context.jsonld import ContextResolver
from smartcity.core.context.service import ContextBroker
from smartcity.core.db import open_database
from smartcity.domains import lighting
from smartcity.web.maplayers import CACHE_S, STALE_S, LayerBuilder

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
# Software WebGL (SwiftShader): the map renders without a GPU, as in tests/web/test_browser.py.
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox"]
VIEWPORT = {"width": 1600, "height": 1000}
LAYER_KEY = "streetlights"
ENTITY_TYPE = "Streetlight"
UPSERT = "/ngsi-ld/v1/entityOperations/upsert"
BATCH = 1000
LON, LAT = (105.60, 105.90), (9.95, 10.15)
DEFECTIVE_SHARE = 0.03
OPERATOR = "bench-operator"
TARGET_READY_MS = 2000.0
TARGET_FRAME_MS = 100.0
READY_TIMEOUT_MS = 180_000
PAGE_REFRESH_S = 10.0  # ioc.js REFRESH_MS: the page reloads its visible layers this often
REFRESH_SETTLE_S = 2.0  # a refresh of 20,000 markers: rebuild, fetch, re-cluster

# Stamps the moment the page marks the map ready (a microtask after the attribute is set),
# on the page's own clock: performance.now() counts from the navigation start.
READY_PROBE = """
new MutationObserver(() => {
  if (document.body && document.body.dataset.mapReady === "true" && !window.__readyAt) {
    window.__readyAt = performance.now();
  }
}).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-map-ready"] });
"""

COLLECT = """
(key) => {
  const nav = performance.getEntriesByType("navigation")[0];
  const all = performance.getEntriesByType("resource");
  const path = (e) => new URL(e.name).pathname;
  const layers = all.filter((e) => path(e).startsWith("/api/map/layers/"));
  const ours = layers.find((e) => path(e).endsWith(`/${key}`));
  const list = all.find((e) => path(e) === "/api/map/layers");
  const library = all.find((e) => path(e).endsWith("/maplibre-gl.mjs"));
  return {
    ready: window.__readyAt,
    html: nav.responseEnd,
    library: library ? library.responseEnd : null,
    listed: list ? list.startTime : null,
    layerEnd: ours ? ours.responseEnd : null,
    layersEnd: Math.max(...layers.map((e) => e.responseEnd)),
    transferred: nav.transferSize + all.reduce((sum, e) => sum + e.transferSize, 0),
    count: window.iocState.counts[key] || 0,
  };
}
"""

# The page keeps its map in a module variable: catch it from the first event it fires, by
# wrapping MapLibre's Map.prototype.fire once (same module instance as the page's import).
CAPTURE_MAP = """
async () => {
  try {
    const m = await import("/static/vendor/maplibre-gl/maplibre-gl.mjs");
    const proto = m.Map.prototype;
    const own = Object.prototype.hasOwnProperty.call(proto, "fire");
    const fire = proto.fire;
    proto.fire = function (...args) {
      if (own) proto.fire = fire; else delete proto.fire;
      window.__iocMap = this;
      return fire.apply(this, args);
    };
    return true;
  } catch (error) {
    return false;
  }
}
"""

# Counters on the captured map: renders, zoom range, the distance panned (summed move by
# move: dragging in circles comes back to where it started), and the main-thread time of
# each render (MapLibre's private _render, when it exists: the GPU work is not in it).
INSTRUMENT = """
() => {
  const map = window.__iocMap;
  Object.assign(window, {
    __renders: 0, __renderMs: [], __path: 0, __prevCenter: map.getCenter(),
    __zoomMin: map.getZoom(), __zoomMax: map.getZoom(),
  });
  map.on("move", () => {
    const c = map.getCenter();
    const a = map.project(window.__prevCenter), b = map.project(c);
    window.__path += Math.hypot(a.x - b.x, a.y - b.y);
    window.__prevCenter = c;
  });
  map.on("render", () => {
    window.__renders += 1;
    window.__zoomMin = Math.min(window.__zoomMin, map.getZoom());
    window.__zoomMax = Math.max(window.__zoomMax, map.getZoom());
  });
  if (typeof map._render !== "function") return false;
  const render = map._render;
  map._render = function (...args) {
    const started = performance.now();
    const result = render.apply(this, args);
    window.__renderMs.push(performance.now() - started);
    return result;
  };
  return true;
}
"""

START_FRAMES = """
() => {
  const map = window.__iocMap;
  Object.assign(window, {
    __frames: [], __recording: true, __renders: 0, __renderMs: [], __path: 0,
    __prevCenter: map ? map.getCenter() : null, __startAt: performance.now(),
    __zoomMin: map ? map.getZoom() : null, __zoomMax: map ? map.getZoom() : null,
  });
  const tick = (t) => {
    if (!window.__recording) return;
    window.__frames.push(t);
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}
"""

STOP_FRAMES = """
() => {
  window.__recording = false;
  const refreshes = performance.getEntriesByType("resource")
    .filter((e) => e.name.includes("/api/map/layers/") && e.startTime >= window.__startAt);
  const found = !!window.__iocMap;
  return {
    frames: window.__frames, refreshes: refreshes.length,
    renders: found ? window.__renders : null, renderMs: window.__renderMs,
    path: found ? window.__path : null, zoom: found ? [window.__zoomMin, window.__zoomMax] : null,
  };
}
"""

SETTLE = """
async ([center, zoom, key]) => {
  const map = window.__iocMap;
  if (center) map.jumpTo({ center, zoom });
  await new Promise((resolve) => {
    map.once("idle", resolve);
    map.triggerRepaint();
    setTimeout(resolve, 30000);
  });
  const points = map.queryRenderedFeatures({ layers: [`${key}-points`] }).length;
  const clusters = map.queryRenderedFeatures({ layers: [`${key}-clusters`] }).length;
  return { points, clusters };
}
"""

NEXT_REFRESH = """
([key, periodMs]) => {
  const starts = performance.getEntriesByType("resource")
    .filter((e) => new URL(e.name).pathname === `/api/map/layers/${key}`)
    .map((e) => e.startTime);
  return (Math.max(...starts) + periodMs - performance.now()) / 1000;
}
"""

ZOOM_LOOP = """
async (ms) => {
  const map = window.__iocMap;
  const end = performance.now() + ms;
  let zoom = 15;
  while (performance.now() < end) {
    await new Promise((resolve) => {
      map.once("moveend", resolve);
      map.zoomTo(zoom, { duration: 1000 });
    });
    zoom = zoom === 15 ? 11 : 15;
  }
}
"""


@dataclass
class Config:
    """The command line."""

    markers: int
    repeat: int
    pan_seconds: float
    quiet_wait_s: float
    keep: bool
    seed: int
    results_dir: Path
    command: str


@dataclass
class Phase:
    """Frame times of one map interaction."""

    name: str
    markers: str
    intervals_ms: list[float]
    others: float
    refreshes: int = 0
    renders: int | None = None
    render_ms: list[float] = field(default_factory=list)
    panned_px: float | None = None
    zoom: tuple[float, float] | None = None


@dataclass
class Loads:
    """First useful map timings (ms, page clock) of a series of page loads."""

    cold: list[dict[str, Any]] = field(default_factory=list)
    warm: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Results:
    """Everything measured, for the report; `others_*`: other processes' CPU, % of a core."""

    load_s: float = 0.0
    first_ms: float = 0.0
    rebuild_ms: list[float] = field(default_factory=list)
    stale_ms: list[float] = field(default_factory=list)
    warm_gzip_ms: list[float] = field(default_factory=list)
    warm_raw_ms: list[float] = field(default_factory=list)
    others_http: float = math.nan
    build_ms: list[float] = field(default_factory=list)
    gzip_ms: list[float] = field(default_factory=list)
    others_build: float = math.nan
    raw_bytes: int = 0
    gzip_bytes: int = 0
    count: int = 0
    empty: Loads = field(default_factory=Loads)
    full: Loads = field(default_factory=Loads)
    phases: list[Phase] = field(default_factory=list)
    map_found: bool = False
    browser_version: str = ""
    server_rss_mib: float = 0.0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0–1); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def smartcity_command() -> list[str]:
    """The CLI of this virtualenv."""
    script = Path(sys.executable).parent / "smartcity"
    return [str(script)] if script.exists() else [sys.executable, "-m", "smartcity.cli"]


# --- the shared machine ------------------------------------------------------------------------


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0))


def own_cpu_s() -> dict[int, float]:
    """CPU seconds of this process and its descendants (server, Playwright, Chromium)."""
    me = psutil.Process()
    out: dict[int, float] = {}
    for proc in [me, *me.children(recursive=True)]:
        with suppress(psutil.Error):
            times = proc.cpu_times()
            out[proc.pid] = times.user + times.system
    return out


class OthersCpu:
    """Other processes' CPU while something runs: the machine is shared, so it is reported."""

    def __init__(self) -> None:
        self.wall, self.busy, self.own = time.perf_counter(), machine_busy_s(), own_cpu_s()

    def percent(self) -> float:
        """% of one core used by processes that are not this benchmark's, since creation."""
        wall = time.perf_counter() - self.wall
        own = sum(cpu - self.own.get(pid, 0.0) for pid, cpu in own_cpu_s().items())
        return max(0.0, 100 * (machine_busy_s() - self.busy - own) / max(wall, 1e-9))


def wait_for_quiet(max_wait_s: float, threshold: float = 30.0) -> None:
    """Wait up to max_wait_s for the machine to be nearly idle (< threshold % of a core)."""
    deadline = time.monotonic() + max_wait_s
    while time.monotonic() < deadline:
        if psutil.cpu_percent(interval=1.0) * (os.cpu_count() or 1) < threshold:
            return


# --- the platform under test -----------------------------------------------------------------


class Server:
    """`smartcity run --no-demo` in a subprocess, an API key and an operator account."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.api_key = ""
        self.password = f"Bench-{secrets.token_urlsafe(12)}-7"

    def cli(self, *args: str) -> str:
        """Run a `smartcity` subcommand on this data dir; its stdout."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")}
        cmd = [*smartcity_command(), *args, "--data-dir", str(self.data_dir)]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def create_credentials(self) -> None:
        """An integrator key for the writes (last line printed) and an operator to sign in."""
        self.api_key = self.cli("keys", "create", "--name", "ioc-map-bench").split()[-1]
        user = ["--username", OPERATOR, "--role", "operator", "--password", self.password]
        self.cli("users", "create", *user)

    def start(self, timeout_s: float = 180) -> None:
        """Start and wait for /healthz."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")}
        cmd = [*smartcity_command(), "run", "--no-demo", "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data_dir)]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log_tail()}")
            with suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"server did not answer /healthz:\n{self.log_tail()}")

    def rss_mib(self) -> float:
        """Resident memory of the server's processes."""
        if self.proc is None:
            return 0.0
        total = 0.0
        with suppress(psutil.Error):
            root = psutil.Process(self.proc.pid)
            for proc in [root, *root.children(recursive=True)]:
                total += proc.memory_info().rss / 2**20
        return total

    def stop(self) -> None:
        """SIGINT, then harder."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            self.proc.send_signal(sig)
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(15)
                return

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


@contextmanager
def platform(cfg: Config) -> Iterator[Server]:
    """A started server on a scratch data dir, removed afterwards unless --keep."""
    data_dir = Path(tempfile.mkdtemp(prefix="smartcity-ioc-map-"))
    server = Server(data_dir)
    try:
        server.create_credentials()
        server.start()
        yield server
    finally:
        server.stop()
        if cfg.keep:
            print(f"kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


# --- data and the layer endpoint ---------------------------------------------------------------


def streetlight(index: int, rng: random.Random) -> dict[str, Any]:
    """One lamp somewhere in Cần Thơ, about 3 % of them broken."""
    status = "defectiveLamp" if rng.random() < DEFECTIVE_SHARE else "ok"
    point = [round(rng.uniform(*LON), 6), round(rng.uniform(*LAT), 6)]
    return {
        "id": f"urn:ngsi-ld:{ENTITY_TYPE}:bench-{index:06d}",
        "type": ENTITY_TYPE,
        "name": {"type": "Property", "value": f"Đèn đường {index:06d}"},
        "status": {"type": "Property", "value": status},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": point}},
    }


def load_markers(server: Server, count: int, seed: int) -> float:
    """Upsert `count` lamps in batches of 1,000; the seconds it took."""
    rng = random.Random(seed)
    headers = {"X-API-Key": server.api_key}
    started = time.perf_counter()
    with httpx.Client(base_url=server.url, headers=headers, timeout=300) as client:
        for start in range(0, count, BATCH):
            batch = [streetlight(i, rng) for i in range(start, min(count, start + BATCH))]
            response = client.post(UPSERT, json=batch)
            if response.status_code not in (201, 204):
                raise RuntimeError(f"upsert: {response.status_code} {response.text[:500]}")
    return time.perf_counter() - started


def sign_in(server: Server) -> httpx.Cookies:
    """The operator's session cookies (one sign-in: the endpoint allows 10 a minute)."""
    form = {"username": OPERATOR, "password": server.password}
    response = httpx.post(server.url + "/auth/session", data=form, timeout=30)
    if response.status_code != 204:
        raise RuntimeError(f"sign-in: {response.status_code} {response.text[:300]}")
    return response.cookies


def timed_get(client: httpx.Client, encoding: str) -> tuple[float, httpx.Response]:
    """GET the layer with an Accept-Encoding; (ms until the body is read, response)."""
    started = time.perf_counter()
    response = client.get(f"/api/map/layers/{LAYER_KEY}", headers={"Accept-Encoding": encoding})
    elapsed = 1000 * (time.perf_counter() - started)
    if response.status_code != 200:
        raise RuntimeError(f"layer: {response.status_code} {response.text[:300]}")
    return elapsed, response


def measure_endpoint(server: Server, cookies: httpx.Cookies, repeat: int, out: Results) -> None:
    """First build, rebuilds after the cache expired, cached answers, payload sizes."""
    others = OthersCpu()
    with httpx.Client(base_url=server.url, cookies=cookies, timeout=300) as client:
        # The baseline's pages had the (empty) layer built: let that copy grow too old to serve.
        time.sleep(STALE_S + 0.2)
        out.first_ms, first = timed_get(client, "gzip")
        out.count = int(first.json()["count"])
        for _ in range(repeat):
            time.sleep(STALE_S + 0.2)  # too old to serve: this request waits for a rebuild
            rebuild_ms, gz = timed_get(client, "gzip")
            time.sleep(CACHE_S + 0.2)  # stale: served at once, rebuilt behind
            stale_ms, _ = timed_get(client, "gzip")
            # Both right after: within the 2 s the layer is served from the cache.
            warm_gzip_ms, _ = timed_get(client, "gzip")
            warm_raw_ms, raw = timed_get(client, "identity")
            out.stale_ms.append(stale_ms)
            out.rebuild_ms.append(rebuild_ms)
            out.warm_gzip_ms.append(warm_gzip_ms)
            out.warm_raw_ms.append(warm_raw_ms)
    out.others_http = others.percent()
    if gz.headers.get("content-encoding") != "gzip" or "content-encoding" in raw.headers:
        raise RuntimeError("the layer endpoint did not honour Accept-Encoding")
    out.gzip_bytes, out.raw_bytes = gz.num_bytes_downloaded, raw.num_bytes_downloaded


def measure_build(server: Server, repeat: int, out: Results) -> None:
    """`LayerBuilder.build` in this process on the server's database: the server-side cost."""
    layer = next(layer for layer in lighting.domain.map_layers if layer.key == LAYER_KEY)
    database = open_database(Settings(data_dir=server.data_dir).resolved_database_url())
    others = OthersCpu()
    try:
        ctx = ContextResolver().resolve(None)
        for _ in range(repeat):
            builder = LayerBuilder(ContextBroker(database), ctx)  # a new one: an empty cache
            started = time.perf_counter()
            cached = builder.build(layer)
            out.build_ms.append(1000 * (time.perf_counter() - started))
            started = time.perf_counter()
            gzip.compress(cached.body, compresslevel=5)
            out.gzip_ms.append(1000 * (time.perf_counter() - started))
    finally:
        database.dispose()
    out.others_build = others.percent()


# --- the browser -------------------------------------------------------------------------------


@contextmanager
def chromium(out: Results) -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        out.browser_version = browser.version
        try:
            yield browser
        finally:
            browser.close()


def new_context(browser: Any, server: Server, cookies: httpx.Cookies) -> Any:
    """A fresh browser context (its own, empty HTTP cache) signed in as the operator."""
    context = browser.new_context(viewport=VIEWPORT, locale="vi-VN")
    context.add_cookies([{"name": k, "value": v, "url": server.url} for k, v in cookies.items()])
    return context


def open_ioc(context: Any, server: Server) -> tuple[Any, dict[str, Any]]:
    """Open /ioc in a new tab after the layer cache expired; (page, timings in ms)."""
    # The 2 s cache has expired: the page gets the previous build at once while the server
    # rebuilds it (stale-while-revalidate; a build older than 15 s would be rebuilt first).
    time.sleep(CACHE_S + 0.2)
    others = OthersCpu()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(READY_PROBE)
    page.goto(server.url + "/ioc", wait_until="commit")
    page.wait_for_selector("body[data-map-ready=true]", timeout=READY_TIMEOUT_MS)
    page.wait_for_function("window.__readyAt !== undefined")
    timings: dict[str, Any] = page.evaluate(COLLECT, LAYER_KEY)
    timings["others"] = others.percent()
    if errors:
        raise RuntimeError(f"errors on the page: {errors}")
    return page, timings


def first_maps(browser: Any, server: Server, cookies: httpx.Cookies, n: int) -> Loads:
    """`n` cold loads (new context) each followed by a warm one (a second tab in it)."""
    loads = Loads()
    for attempt in range(n):
        context = new_context(browser, server, cookies)
        try:
            for series in (loads.cold, loads.warm):
                page, timings = open_ioc(context, server)
                page.close()  # its 10 s layer refresh must not run during the next load
                series.append(timings)
        finally:
            context.close()
        cold, warm = loads.cold[-1], loads.warm[-1]
        print(
            f"  load {attempt + 1}: cold {cold['ready']:,.0f} ms, warm {warm['ready']:,.0f} ms "
            f"({cold['count']:,} markers)",
            flush=True,
        )
    return loads


def map_box(page: Any) -> tuple[float, float, float]:
    """Centre and a drag radius of the map element, in page pixels."""
    box = page.locator("#map").bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["height"] / 4


def capture_map(page: Any) -> bool:
    """Make the page's MapLibre map reachable as window.__iocMap and count on it."""
    if not page.evaluate(CAPTURE_MAP):
        return False
    x, y, _ = map_box(page)
    for step in range(5):  # mouse moves over the map make it fire events
        page.mouse.move(x + step * 3, y + step * 3)
    with suppress(Exception):
        page.wait_for_function("window.__iocMap !== undefined", timeout=5000)
    if not page.evaluate("window.__iocMap !== undefined"):
        return False
    page.evaluate(INSTRUMENT)
    return True


def drag_in_circles(page: Any, seconds: float) -> None:
    """Hold the left button and move around a circle: the map pans continuously."""
    x, y, radius = map_box(page)
    page.mouse.move(x + radius, y)
    page.mouse.down()
    angle, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        angle += 0.12
        page.mouse.move(x + radius * math.cos(angle), y + radius * math.sin(angle))
    page.mouse.up()


def wheel_zoom(page: Any, seconds: float) -> None:
    """Without the map object: zoom in and out with the mouse wheel."""
    x, y, _ = map_box(page)
    page.mouse.move(x, y)
    end, step = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        page.mouse.wheel(0, -120 if (step // 10) % 2 == 0 else 120)
        page.wait_for_timeout(30)
        step += 1


def run_phase(page: Any, name: str, markers: str, action: Callable[[], object]) -> Phase:
    """Record requestAnimationFrame timestamps in the page while `action` runs."""
    others = OthersCpu()
    page.evaluate(START_FRAMES)
    action()
    got = page.evaluate(STOP_FRAMES)
    intervals = [b - a for a, b in itertools.pairwise(got["frames"])]
    phase = Phase(name, markers, intervals, others.percent(), got["refreshes"], got["renders"])
    phase.render_ms, phase.panned_px = got["renderMs"], got["path"]
    phase.zoom = (got["zoom"][0], got["zoom"][1]) if got["zoom"] else None
    print(f"    {name}: frame p95 {pct(intervals, 0.95):,.0f} ms", flush=True)
    return phase


def settle(page: Any, center: list[float], zoom: float) -> str:
    """Jump there, wait for the map to be idle; what it shows of the layer."""
    shown = page.evaluate(SETTLE, [center, zoom, LAYER_KEY])
    return f"{shown['clusters']:,} clusters, {shown['points']:,} single markers"


def next_refresh_s(page: Any) -> float:
    """Seconds until the page reloads its layers again (it does every PAGE_REFRESH_S)."""
    return float(page.evaluate(NEXT_REFRESH, [LAYER_KEY, 1000 * PAGE_REFRESH_S]))


def after_first_refresh(page: Any) -> None:
    """Wait for the page's first layer refresh: its timer starts only once the layers are
    loaded, so the next refresh can be foreseen from the fetches only after that one."""
    fetched = """([key, n]) => performance.getEntriesByType("resource")
        .filter((e) => new URL(e.name).pathname === `/api/map/layers/${key}`).length >= n"""
    timeout = 1000 * (PAGE_REFRESH_S + 10)
    with suppress(Exception):  # no refresh at all: the phases then need no guard
        page.wait_for_function(fetched, arg=[LAYER_KEY, 2], timeout=timeout)
    page.wait_for_timeout(1000 * REFRESH_SETTLE_S)


def clear_of_refresh(page: Any, needed_s: float) -> None:
    """If the next layer refresh comes within `needed_s`, wait until it is over."""
    left = next_refresh_s(page)
    if left < needed_s:
        page.wait_for_timeout(1000 * (max(left, 0.0) + REFRESH_SETTLE_S))


def just_before_refresh(page: Any) -> None:
    """Wait until a second before the page's next layer refresh."""
    clear_of_refresh(page, 1.5)
    page.wait_for_timeout(1000 * max(0.0, next_refresh_s(page) - 1.0))


def frame_times(browser: Any, server: Server, cookies: httpx.Cookies, s: float) -> list[Phase]:
    """Frame intervals while idle, dragging, zooming, and dragging through a layer refresh."""
    context = new_context(browser, server, cookies)
    try:
        page, _ = open_ioc(context, server)
        found = capture_map(page)
        after_first_refresh(page)
        city = [sum(LON) / 2, sum(LAT) / 2]
        drag = partial(drag_in_circles, page, s)
        interactions: list[tuple[str, float, Callable[[], object]]] = [
            ("idle (baseline)", 11, partial(page.wait_for_timeout, 1000)),
            ("drag, zoom 11", 11, drag),
        ]
        if found:
            zoom = partial(page.evaluate, ZOOM_LOOP, 1000 * s)
            interactions.append(("zoom 11 ↔ 15 (1 s each way)", 11, zoom))
            interactions.append(("drag, zoom 15", 15, drag))
        else:  # no map object: no jumping to zoom 15, and the wheel zooms
            interactions.append(("wheel zoom", 11, partial(wheel_zoom, page, s)))
        phases = []
        for name, level, action in interactions:
            # Each between two of the page's layer refreshes (the last phase takes one in).
            clear_of_refresh(page, s + 3)
            shown = settle(page, city, level) if found else "?"
            phases.append(run_phase(page, name, shown, action))
        shown = settle(page, city, 11) if found else "?"
        just_before_refresh(page)
        name = "drag, zoom 11, through the page's 10 s layer refresh"
        phases.append(run_phase(page, name, shown, partial(drag_in_circles, page, s + 1)))
        return phases
    finally:
        context.close()


# --- report ------------------------------------------------------------------------------------


def verdict(value: float, target: float) -> str:
    """PASS/FAIL in bold."""
    return "**PASS**" if value <= target else "**FAIL**"


def row(
    name: str, values: list[float], target: float | None = None, others: float | None = None
) -> str:
    """A table row: median, p95, max, n of a series (ms), the verdict on its p95, others' CPU."""
    stats = [statistics.median(values), pct(values, 0.95), max(values)]
    cells = " | ".join(f"{v:,.0f} ms" for v in stats)
    goal = f"p95 ≤ {target:,.0f} ms" if target is not None else "—"
    result = verdict(pct(values, 0.95), target) if target is not None else ""
    cpu = f"{others:.0f}" if others is not None and not math.isnan(others) else ""
    return f"| {name} | {cells} | {len(values)} | {goal} | {result} | {cpu} |"


def median_others(pages: list[dict[str, Any]]) -> float:
    """Median of the other processes' CPU over page loads."""
    return float(statistics.median(p["others"] for p in pages))


def page_rows(label: str, pages: list[dict[str, Any]]) -> list[str]:
    """The first-useful-map rows of one cache state, and where the time went."""
    steps = [
        ("HTML received", "html"),
        ("map library received (maplibre-gl.mjs)", "library"),
        ("layer list requested (map loaded, geography added)", "listed"),
        ("marker layer received", "layerEnd"),
        ("all layers received", "layersEnd"),
    ]
    ready = [p["ready"] for p in pages]
    name = f"First useful map, {label} (navigation → data-map-ready)"
    lines = [row(name, ready, TARGET_READY_MS, median_others(pages))]
    for text, key in steps:
        values = [p[key] for p in pages if p[key] is not None]
        if values:
            lines.append(row(f"… {text}", values))
    kib = statistics.median(p["transferred"] for p in pages) / 1024
    lines.append(f"| … transferred | {kib:,.0f} KiB | | | {len(pages)} | — | | |")
    return lines


def endpoint_rows(r: Results) -> list[str]:
    """The layer endpoint's rows."""
    per = r.count or 1
    ratio = r.raw_bytes / max(r.gzip_bytes, 1)
    http, build = r.others_http, r.others_build  # one figure for each series' whole window
    return [
        row("Layer endpoint: first build after the upsert (HTTP, gzip)", [r.first_ms], None, http),
        row(
            "Layer endpoint: rebuild, build older than 15 s (HTTP, gzip)", r.rebuild_ms, None, http
        ),
        row(
            "Layer endpoint: stale build served, rebuilt behind (HTTP, gzip)",
            r.stale_ms,
            None,
            http,
        ),
        row("Layer endpoint: cached (HTTP, gzip)", r.warm_gzip_ms, None, http),
        row("Layer endpoint: cached (HTTP, identity)", r.warm_raw_ms, None, http),
        row("Server-side build (query, pack, JSON, gzip)", r.build_ms, None, build),
        row("… of which gzip (level 5)", r.gzip_ms, None, build),
        f"| Payload, raw (Accept-Encoding: identity) | {r.raw_bytes:,} B | "
        f"{r.raw_bytes / per:,.1f} B/marker | | | reported | | |",
        f"| Payload, gzip | {r.gzip_bytes:,} B | {r.gzip_bytes / per:,.1f} B/marker | "
        f"{ratio:.1f}× smaller | | reported | | |",
    ]


def phase_rows(r: Results) -> list[str]:
    """One row per map interaction (frame intervals); no target on the idle baseline."""
    return [
        row(
            f"Frame time: {p.name}",
            p.intervals_ms or [math.nan],
            None if p.name.startswith("idle") else TARGET_FRAME_MS,
            p.others,
        )
        for p in r.phases
    ]


def phase_details(r: Results) -> list[str]:
    """A second table: what each interaction drew, that it really moved, the JS share."""
    lines = [
        "| Interaction | Shown at start | Frames | MapLibre renders | Main thread per render "
        "(median / p95) | Panned | Zoom | Layer refreshes |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p in r.phases:
        renders = f"{p.renders:,}" if p.renders is not None else "?"
        cpu = "?"
        if p.render_ms:
            cpu = f"{statistics.median(p.render_ms):.1f} / {pct(p.render_ms, 0.95):.1f} ms"
        panned = f"{p.panned_px:,.0f} px" if p.panned_px is not None else "?"
        zoom = f"{p.zoom[0]:.1f}–{p.zoom[1]:.1f}" if p.zoom else "?"
        lines.append(
            f"| {p.name} | {p.markers} | {len(p.intervals_ms) + 1:,} | {renders} | {cpu} | "
            f"{panned} | {zoom} | {p.refreshes} |"
        )
    return lines


def header(cfg: Config, r: Results) -> list[str]:
    """The conditions of the run."""
    before = ", ".join(f"{x:.1f}" for x in r.load_before)
    after = ", ".join(f"{x:.1f}" for x in r.load_after)
    return [
        f"# IOC map: {cfg.markers:,} markers on the `{LAYER_KEY}` layer",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; command: `{cfg.command}`",
        f"- machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"**shared** (load average before {before}; after {after}); the last column is the "
        "CPU of other processes during the measurement, in % of one core",
        f"- platform: `smartcity run --no-demo`, SQLite, one worker; RSS at the end "
        f"{r.server_rss_mib:,.0f} MiB",
        f"- data: {cfg.markers:,} `{ENTITY_TYPE}` entities upserted in {r.load_s:.1f} s "
        f"({cfg.markers / max(r.load_s, 1e-9):,.0f}/s, batches of {BATCH:,}); the layer "
        f"holds {r.count:,} markers",
        f"- browser: Chromium {r.browser_version} headless, viewport "
        f"{VIEWPORT['width']}×{VIEWPORT['height']}, WebGL by **SwiftShader (software, on the "
        "CPU)**: frame times are pessimistic against a real GPU",
        "- every page load starts after the server's 2 s layer cache expired: the previous "
        "build (under 15 s old) is served at once while a new one is made behind; "
        "cold = new browser context (empty HTTP cache), warm = a second tab in it; times on "
        "the page's clock from the navigation start; the baseline rows are loads before any "
        "marker was written",
        f"- frame time = interval between requestAnimationFrame callbacks, over "
        f"{cfg.pan_seconds:g} s of each interaction (1 s idle); each runs between two of the "
        "page's 10 s layer refreshes, except the last, timed to take one in; main thread per "
        "render = MapLibre's `_render` (JavaScript and WebGL calls, not the rasterisation)",
    ]


def render(cfg: Config, r: Results) -> str:
    """The markdown report."""
    lines = [
        *header(cfg, r),
        "",
        "| Measurement | median | p95 | max | n | target | result | others' CPU % |",
        "|---|---:|---:|---:|---:|---|---|---:|",
        *endpoint_rows(r),
        row(
            "Baseline, no markers: first useful map, cold browser cache",
            [p["ready"] for p in r.empty.cold],
            None,
            median_others(r.empty.cold),
        ),
        row(
            "Baseline, no markers: first useful map, warm browser cache",
            [p["ready"] for p in r.empty.warm],
            None,
            median_others(r.empty.warm),
        ),
        *page_rows("cold browser cache", r.full.cold),
        *page_rows("warm browser cache", r.full.warm),
        *phase_rows(r),
        "",
        *phase_details(r),
    ]
    if not r.map_found:
        lines += ["", "The page's map object was not reachable: mouse drag and wheel only."]
    return "\n".join(lines) + "\n"


# --- driver ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> Config:
    """The command line, checked."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--markers", type=int, default=20_000, help="Streetlight entities")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of each measurement")
    parser.add_argument("--pan-seconds", type=float, default=3.0, help="length of each interaction")
    parser.add_argument(
        "--quiet-wait", type=float, default=10.0, help="max wait for an idle machine, per part"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the lamp positions")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    if args.markers < 1 or args.repeat < 1 or args.pan_seconds <= 0:
        parser.error("--markers and --repeat must be at least 1, --pan-seconds positive")
    command = ["python benchmarks/ioc_map.py", *(sys.argv[1:] if argv is None else argv)]
    return Config(
        markers=args.markers,
        repeat=args.repeat,
        pan_seconds=args.pan_seconds,
        quiet_wait_s=args.quiet_wait,
        keep=args.keep,
        seed=args.seed,
        results_dir=args.results_dir,
        command=" ".join(command),
    )


def run(cfg: Config) -> Results:
    """Start the platform, measure an empty map, load the lamps, measure."""
    out = Results(load_before=os.getloadavg())
    with platform(cfg) as server, chromium(out) as browser:
        print(f"platform on {server.url}, data in {server.data_dir}", flush=True)
        cookies = sign_in(server)
        print("baseline: the map without markers", flush=True)
        out.empty = first_maps(browser, server, cookies, cfg.repeat)
        out.load_s = load_markers(server, cfg.markers, cfg.seed)
        print(f"{cfg.markers:,} lamps upserted in {out.load_s:.1f} s", flush=True)
        wait_for_quiet(cfg.quiet_wait_s)
        measure_endpoint(server, cookies, cfg.repeat, out)
        if out.count != cfg.markers:
            raise RuntimeError(f"the layer holds {out.count:,} markers, not {cfg.markers:,}")
        measure_build(server, cfg.repeat, out)
        print(
            f"  layer: first {out.first_ms:,.0f} ms, rebuild "
            f"{statistics.median(out.rebuild_ms):,.0f} ms, {out.raw_bytes:,} B raw, "
            f"{out.gzip_bytes:,} B gzip",
            flush=True,
        )
        wait_for_quiet(cfg.quiet_wait_s)
        print("first useful map", flush=True)
        out.full = first_maps(browser, server, cookies, cfg.repeat)
        wait_for_quiet(cfg.quiet_wait_s)
        print("frame times", flush=True)
        out.phases = frame_times(browser, server, cookies, cfg.pan_seconds)
        out.map_found = out.phases[-1].panned_px is not None
        out.server_rss_mib = server.rss_mib()
    out.load_after = os.getloadavg()
    return out


def main(argv: list[str] | None = None) -> int:
    """Run and print (and write) the results table."""
    cfg = parse_args(argv)
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is absent (apt-get install -y chromium)", file=sys.stderr)
        return 2
    text = render(cfg, run(cfg))
    cfg.results_dir.mkdir(parents=True, exist_ok=True)
    out = cfg.results_dir / "ioc-map.md"
    out.write_text(text)
    print("\n" + text + f"\n(written to {out})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
