"""Sensor faults: turn a clean signal into what a tired field sensor reports.

Stuck values, spikes, dropouts and clock skew are what data-quality rules at ingest must catch.
Every decision is a seeded hash of (seed, sensor, time), so the same sensor misbehaves the same
way on every run, and the faults work sample by sample (a live stream) or on a whole series.
Malformed payloads are the sender's business, not this module's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from smartcity.simulator.timebase import HOUR_S, epoch_s, stream_key, uniform

Sample = tuple[datetime, float]


@dataclass(frozen=True)
class SensorFaults:
    """How often and how badly one sensor misbehaves."""

    key: str
    seed: int = 0
    # Share of hours in which the reading freezes at the value it had when the hour began.
    stuck_probability: float = 0.01
    # Share of samples replaced by a spike of ±spike_scale (in the signal's units) on top.
    spike_probability: float = 0.005
    spike_scale: float = 10.0
    # Share of samples never sent (radio loss, power dip).
    dropout_probability: float = 0.02
    # Constant offset of the sensor's clock and its drift (parts per million since epoch_ref).
    clock_offset: timedelta = timedelta(0)
    drift_ppm: float = 0.0
    epoch_ref: datetime | None = None

    def reported_time(self, at: datetime) -> datetime:
        """The timestamp the sensor's own (skewed, drifting) clock puts on a reading."""
        drift = timedelta(0)
        if self.drift_ppm and self.epoch_ref is not None:
            drift = (at - self.epoch_ref) * (self.drift_ppm * 1e-6)
        return at + self.clock_offset + drift

    def observe(self, at: datetime, clean: Callable[[datetime], float]) -> Sample | None:
        """The (timestamp, value) the sensor reports at `at`, or None if the sample is lost."""
        t = epoch_s(at)
        skey = stream_key(self.seed, "faults:" + self.key)
        second = math.floor(t)
        if uniform(skey, 3 * second) < self.dropout_probability:
            return None
        hour = math.floor(t / HOUR_S)
        if uniform(skey ^ 0x5157, hour) < self.stuck_probability:
            # Frozen at the reading taken at the top of the stuck hour.
            value = clean(at - timedelta(seconds=t - hour * HOUR_S))
        else:
            value = clean(at)
        if uniform(skey, 3 * second + 1) < self.spike_probability:
            sign = 1.0 if uniform(skey, 3 * second + 2) < 0.5 else -1.0
            value += sign * self.spike_scale
        return self.reported_time(at), value

    def apply(self, times: Iterable[datetime], clean: Callable[[datetime], float]) -> list[Sample]:
        """A whole series as reported: dropouts removed, the rest stuck, spiked and skewed."""
        out: list[Sample] = []
        for at in times:
            sample = self.observe(at, clean)
            if sample is not None:
                out.append(sample)
        return out


def stuck(samples: list[Sample], start: datetime, end: datetime) -> list[Sample]:
    """Freeze the values inside [start, end) at the last value before start."""
    frozen: float | None = None
    out: list[Sample] = []
    for at, value in samples:
        if at < start:
            frozen = value
        if start <= at < end:
            out.append((at, value if frozen is None else frozen))
            if frozen is None:
                frozen = value
        else:
            out.append((at, value))
    return out


def spikes(samples: list[Sample], times: Iterable[datetime], magnitude: float) -> list[Sample]:
    """Add `magnitude` to the samples taken at the given times."""
    hit = set(times)
    return [(at, value + magnitude if at in hit else value) for at, value in samples]


def dropouts(samples: list[Sample], start: datetime, end: datetime) -> list[Sample]:
    """Remove the samples inside [start, end)."""
    return [(at, value) for at, value in samples if not start <= at < end]


def clock_skew(samples: list[Sample], offset: timedelta) -> list[Sample]:
    """Shift every timestamp by a fixed offset."""
    return [(at + offset, value) for at, value in samples]
