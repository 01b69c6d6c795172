"""The simulator's engine: a clock, backfill of history, live reports, commands and faults.

Each device reports on its own grid (its group's interval, shifted by a fixed per-device phase
so that a city's devices do not all speak in the same second). Simulated time never runs
ahead of the real clock — the platform refuses measures from the future — so an accelerated
run starts in the past and becomes real time once it catches up; a backfill is a run at
infinite speed from N days ago to now. Under the `sensor-faults` scenario a fixed share of
devices drops, freezes, spikes, skews its clock or sends garbage, as real fleets do.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from smartcity.core.context.times import format_us
from smartcity.simulator.fleet import Device, Fleet
from smartcity.simulator.timebase import HOUR_S, NORMAL, Scenario, ScenarioName, stream_key, uniform
from smartcity.simulator.transport import Delivery, HttpTransport

#: Most timestamped measures in one backfill request.
BACKFILL_BATCH = 200
#: Most grid points one device catches up in one live tick (a long pause is not replayed).
MAX_CATCH_UP = 50
#: Wall seconds between command polls of an actuator in a live run.
COMMAND_POLL_S = 5.0
MAX_POLLED_ACTUATORS = 1000
#: Share of devices that misbehave under the sensor-faults scenario.
FAULTY_SHARE = 0.25

Progress = Callable[[int, int], None]


@dataclass
class SimClock:
    """Simulated time: `start_s` at the moment of creation, running `speed` times real time,
    never ahead of the real clock."""

    start_s: float
    speed: float = 1.0
    _wall0: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        """The simulated epoch seconds now."""
        elapsed = (time.monotonic() - self._wall0) * self.speed
        return min(time.time(), self.start_s + elapsed)


@dataclass
class Stats:
    """What a run sent and how the platform took it."""

    requests: int = 0
    measures: int = 0
    rejected: int = 0
    commands: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, delivery: Delivery, measures: int) -> None:
        """Count one request."""
        self.requests += 1
        if delivery.error is None:
            self.measures += measures
        else:
            self.rejected += 1
            if len(self.errors) < 20:
                self.errors.append(delivery.error)


class Simulator:
    """Drives a fleet through a transport under a scenario."""

    def __init__(
        self,
        fleet: Fleet,
        transport: HttpTransport,
        scenario: Scenario = NORMAL,
        workers: int = 4,
    ) -> None:
        self.fleet = fleet
        self.transport = transport
        self.scenario = scenario
        self.workers = workers
        self.stats = Stats()
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._polled: dict[str, float] = {}
        actuators = sum(1 for d in fleet.devices if d.group.commands)
        #: Wall seconds between command polls of each actuator (lamps, gates), so that an
        #: operator's command is carried out within seconds, not at the next 15-minute report;
        #: off for fleets too large to poll (they still fetch commands with each report).
        self.poll_commands_s = COMMAND_POLL_S if actuators <= MAX_POLLED_ACTUATORS else 0.0

    # --- grid -------------------------------------------------------------------------

    def _phase(self, device: Device) -> float:
        """A fixed offset of the device's reporting grid, in [0, interval)."""
        skey = stream_key(self.fleet.seed, "phase:" + device.device_id)
        return math.floor(uniform(skey, 0) * device.group.interval_s)

    def _grid(self, device: Device, start: float, end: float, step: float) -> Iterator[float]:
        """The device's report times in (start, end] on a grid of `step` seconds."""
        phase = self._phase(device) % step
        first = math.floor((start - phase) / step) * step + phase + step
        t = first
        while t <= end:
            yield t
            t += step

    # --- payloads ---------------------------------------------------------------------

    def _payload(self, device: Device, t: float) -> dict[str, Any] | bytes | None:
        """The measure as the device sends it at t (None: lost; bytes: garbage)."""
        values = device.measure(t, self.scenario)
        stamp = t
        if self.scenario.active(ScenarioName.SENSOR_FAULTS, t) and self._faulty(device):
            fault = self._fault(device, t, values)
            if fault is None or isinstance(fault, bytes):
                return fault
            values, stamp = fault
        return {**values, "TimeInstant": format_us(int(stamp * 1e6))}

    def _faulty(self, device: Device) -> bool:
        return uniform(stream_key(self.fleet.seed, "faulty:" + device.device_id), 0) < FAULTY_SHARE

    def _fault(
        self, device: Device, t: float, values: dict[str, Any]
    ) -> tuple[dict[str, Any], float] | bytes | None:
        """One faulty device's sample: dropped, garbage, stuck, spiked or clock-skewed."""
        skey = stream_key(self.fleet.seed, "fault:" + device.device_id)
        bucket = math.floor(t)
        draw = uniform(skey, bucket)
        if draw < 0.08:
            return None  # dropout
        if draw < 0.14:
            return b'{"' + device.group.attributes[0].name.encode() + b'": \x00garbage'
        if draw < 0.20:
            return {device.group.attributes[0].name: "n/a"}, t  # a wrong-type value
        numeric = [k for k, v in values.items() if isinstance(v, int | float)]
        if numeric and uniform(skey ^ 0x5157, math.floor(t / HOUR_S)) < 0.3:
            hour_start = math.floor(t / HOUR_S) * HOUR_S  # stuck at the hour's first value
            frozen = device.measure(hour_start, self.scenario)
            values = {**values, **{k: frozen[k] for k in numeric}}
        if numeric and draw > 0.95:
            name = numeric[0]
            values = {**values, name: round(float(values[name]) * 10 + 100, 3)}  # a spike
        skew = (uniform(skey, -1) - 0.5) * 1800.0  # this device's clock, ±15 min
        return values, t + skew

    # --- sending ----------------------------------------------------------------------

    def _send_series(self, device: Device, times: list[float], get_commands: bool) -> None:
        """Send a device's measures at `times`, in batches; apply any commands returned."""
        batch: list[dict[str, Any]] = []
        for t in times:
            payload = self._payload(device, t)
            if payload is None:
                continue
            if isinstance(payload, bytes):
                self._flush(device, batch, False)
                batch = []
                self._deliver(device, payload, 1, False)
                continue
            batch.append(payload)
            if len(batch) >= BACKFILL_BATCH:
                self._flush(device, batch, False)
                batch = []
        self._flush(device, batch, get_commands)

    def _flush(self, device: Device, batch: list[dict[str, Any]], get_commands: bool) -> None:
        if not batch:
            return
        body = orjson.dumps(batch[0] if len(batch) == 1 else batch)
        self._deliver(device, body, len(batch), get_commands)

    def _deliver(self, device: Device, body: bytes, count: int, get_commands: bool) -> None:
        delivery = self.transport.send(device, body, get_commands)
        with self._lock:
            self.stats.add(delivery, count)
        if delivery.commands:
            self._obey(device, delivery.commands)

    def _obey(self, device: Device, commands: dict[str, Any]) -> None:
        """Carry out commands, acknowledge them, and report the new state at once."""
        results = {name: apply_command(device, name, value) for name, value in commands.items()}
        self.transport.acknowledge(device, results)
        with self._lock:
            self.stats.commands += len(results)
        # One second after its last report, in simulated time: a newer observation than any
        # stored, so the entity shows the new state even while the run is in the past.
        t = self._last.get(device.device_id, time.time() - 1.0) + 1.0
        self._last[device.device_id] = t
        payload = self._payload(device, t)
        if isinstance(payload, dict):
            self._deliver(device, orjson.dumps(payload), 1, False)

    # --- modes ------------------------------------------------------------------------

    def backfill(self, start_s: float, end_s: float, progress: Progress | None = None) -> Stats:
        """Send every device's history in (start_s, end_s] on its backfill step."""
        done = 0
        total = len(self.fleet.devices)

        def one(device: Device) -> None:
            step = device.group.backfill_step_s
            self._send_series(device, list(self._grid(device, start_s, end_s, step)), False)
            self._last[device.device_id] = end_s

        with ThreadPoolExecutor(self.workers) as pool:
            for _ in pool.map(one, _interleaved(self.fleet.devices)):
                done += 1
                if progress is not None:
                    progress(done, total)
        return self.stats

    def tick(self, now_s: float) -> int:
        """Send what each device reports between its last report and now; requests sent."""
        before = self.stats.requests
        due = []
        for device in self.fleet.devices:
            last = self._last.get(device.device_id, now_s - device.group.interval_s)
            step = device.group.interval_s
            times = list(self._grid(device, last, now_s, step))[-MAX_CATCH_UP:]
            if times:
                due.append((device, times))
                self._last[device.device_id] = times[-1]
        with ThreadPoolExecutor(self.workers) as pool:
            list(pool.map(lambda item: self._send_series(item[0], item[1], True), due))
            reported = {device.device_id for device, _ in due}
            list(pool.map(self._poll, [d for d in self._to_poll() if d.device_id not in reported]))
        return self.stats.requests - before

    def _to_poll(self) -> list[Device]:
        """Actuators whose command poll is due (wall clock)."""
        if not self.poll_commands_s:
            return []
        now = time.monotonic()
        due = []
        for device in self.fleet.devices:
            if device.group.commands and now - self._polled.get(device.device_id, 0.0) >= (
                self.poll_commands_s
            ):
                self._polled[device.device_id] = now
                due.append(device)
        return due

    def _poll(self, device: Device) -> None:
        commands = self.transport.poll(device)
        with self._lock:
            self.stats.requests += 1
        if commands:
            self._obey(device, commands)

    def run(self, clock: SimClock, stop: threading.Event, tick_s: float = 1.0) -> Stats:
        """Tick until `stop` is set (accelerated while behind the real clock)."""
        while not stop.is_set():
            started = time.monotonic()
            self.tick(clock.now())
            stop.wait(max(0.0, tick_s - (time.monotonic() - started)))
        return self.stats


def apply_command(device: Device, name: str, value: Any) -> str:
    """Carry out one command on the device's state; the result text it reports."""
    kind = device.group.kind
    if kind == "streetlight" and name == "dim":
        level = float(value)
        if not 0 <= level <= 100:
            return f"ERROR dimming level {value!r} out of 0–100"
        device.state["dim"] = level
        device.state["switch"] = "on"
        return f"OK dimmed to {level:g} %"
    if kind == "streetlight" and name == "switch":
        if value not in ("on", "off", "auto"):
            return f"ERROR unknown switch position {value!r}"
        device.state.pop("dim", None)
        device.state["switch"] = value
        return f"OK switched {value}"
    if kind == "sluice-gate" and name in ("open", "close"):
        device.state["gate"] = "closed" if name == "close" else "open"
        return f"OK gate {device.state['gate']}"
    return f"ERROR {kind} does not know the command {name!r}"


def _interleaved(devices: list[Device]) -> list[Device]:
    """Devices round-robin by kind, so that every kind has history early in a backfill."""
    by_kind: dict[str, list[Device]] = {}
    for d in devices:
        by_kind.setdefault(d.group.kind, []).append(d)
    out: list[Device] = []
    queues = list(by_kind.values())
    for i in range(max(len(q) for q in queues) if queues else 0):
        out += [q[i] for q in queues if i < len(q)]
    return out
