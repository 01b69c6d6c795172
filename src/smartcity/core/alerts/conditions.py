"""Rule conditions: parsing their JSON form and evaluating them on a series of readings.

A condition is one of (times are ISO 8601 durations like "PT5M" or seconds):

    {"threshold": {"attribute": "waterLevel", "op": ">=", "value": 2.0,
                   "clear": 1.95, "for": "PT2M"}}
    {"rate": {"attribute": "waterLevel", "op": ">", "value": 0.3, "per": "PT1H"}}
    {"absence": {"attribute": "waterLevel", "for": "PT15M"}}
    {"anomaly": {"attribute": "speed", "threshold": 6.0}}
    {"all": [<condition>, ...]}      {"any": [<condition>, ...]}

Evaluation is pure: each leaf keeps a small state per subject entity (what it saw last,
since when a threshold has held) and answers whether it is active. Hysteresis: once active,
a threshold stays active until the value passes `clear` (default: `value`); `for` is the time,
measured between readings, the value must stay beyond `value` before the leaf activates.
"""

from __future__ import annotations

import math
import operator
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import isodate

from .anomaly import DetectorConfig, SeriesDetector

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class ConditionError(ValueError):
    """A rule condition that cannot be understood (the message says why)."""


@dataclass(frozen=True)
class Reading:
    """The latest value of one attribute of the subject entity and when it was observed."""

    value: float | None
    at_s: float


Readings = Mapping[str, Reading]


@dataclass
class LeafState:
    """What one leaf remembers about one subject entity."""

    active: bool = False
    since_s: float | None = None
    last_at_s: float | None = None
    window: deque[tuple[float, float]] = field(default_factory=deque)
    detector: SeriesDetector | None = None


class Condition(ABC):
    """A node of a condition tree."""

    @abstractmethod
    def attributes(self) -> set[str]:
        """The attributes this condition reads."""

    @abstractmethod
    def evaluate(self, states: dict[int, LeafState], readings: Readings, now_s: float) -> bool:
        """Whether the condition holds now; updates the leaves' states."""

    @abstractmethod
    def describe(self) -> str:
        """A short human-readable form, for alert titles."""


@dataclass(eq=False)
class Leaf(Condition):
    """A condition on one attribute, keeping its own state per subject entity."""

    attribute: str

    def attributes(self) -> set[str]:
        """The one attribute read."""
        return {self.attribute}

    def state(self, states: dict[int, LeafState]) -> LeafState:
        """This leaf's state among a subject's states."""
        return states.setdefault(id(self), LeafState())


@dataclass(eq=False)
class Threshold(Leaf):
    """The attribute beyond a value, with hysteresis and a minimum duration."""

    op: str
    value: float
    clear: float
    for_s: float

    def evaluate(self, states: dict[int, LeafState], readings: Readings, now_s: float) -> bool:
        """Active once beyond `value` for `for_s`; inactive once back past `clear`."""
        state = self.state(states)
        value = _new_value(state, readings.get(self.attribute))
        if value is None:
            return state.active
        at_s = state.last_at_s or 0.0
        if _OPS[self.op](value, self.value):
            state.since_s = at_s if state.since_s is None else state.since_s
            if at_s - state.since_s >= self.for_s:
                state.active = True
        elif self._cleared(value):
            state.active, state.since_s = False, None
        elif not state.active:
            state.since_s = None
        return state.active

    def _cleared(self, value: float) -> bool:
        # Back on the normal side of `clear` (which defaults to `value`: no hysteresis).
        return not _OPS[self.op](value, self.clear)

    def describe(self) -> str:
        """E.g. `waterLevel >= 2.0`."""
        return f"{self.attribute} {self.op} {self.value:g}"


@dataclass(eq=False)
class Rate(Leaf):
    """The attribute's change per `per_s` over the last `per_s`, compared with a value."""

    op: str
    value: float
    per_s: float

    def evaluate(self, states: dict[int, LeafState], readings: Readings, now_s: float) -> bool:
        """Active while the change over the window, scaled to `per_s`, passes the comparison."""
        state = self.state(states)
        value = _new_value(state, readings.get(self.attribute))
        if value is None:
            return state.active
        window = state.window
        at_s = state.last_at_s or 0.0
        window.append((at_s, value))
        while len(window) > 2 and window[1][0] <= at_s - self.per_s:
            window.popleft()
        span = window[-1][0] - window[0][0]
        if span <= 0:
            return state.active
        # Scaled to per_s so "0.3 m per hour" means the same with any sampling interval.
        change = (window[-1][1] - window[0][1]) * self.per_s / span
        state.active = _OPS[self.op](change, self.value)
        return state.active

    def describe(self) -> str:
        """E.g. `waterLevel rises > 0.3 per 3600 s`."""
        return f"{self.attribute} change {self.op} {self.value:g} per {self.per_s:g} s"


@dataclass(eq=False)
class Absence(Leaf):
    """No reading of the attribute for `for_s` (wall-clock time, checked by the sweep too)."""

    for_s: float

    def evaluate(self, states: dict[int, LeafState], readings: Readings, now_s: float) -> bool:
        """Active when the newest reading is older than `for_s`."""
        state = self.state(states)
        reading = readings.get(self.attribute)
        if reading is not None:
            state.last_at_s = max(reading.at_s, state.last_at_s or reading.at_s)
        if state.last_at_s is None:
            return state.active
        state.active = now_s - state.last_at_s >= self.for_s
        return state.active

    def describe(self) -> str:
        """E.g. `no waterLevel for 900 s`."""
        return f"no {self.attribute} for {self.for_s:g} s"


@dataclass(eq=False)
class Anomaly(Leaf):
    """The statistical detector (anomaly.py) finds the newest reading unusual for its series."""

    config: DetectorConfig

    def evaluate(self, states: dict[int, LeafState], readings: Readings, now_s: float) -> bool:
        """Active while the newest reading is anomalous."""
        state = self.state(states)
        value = _new_value(state, readings.get(self.attribute))
        if value is None:
            return state.active
        if state.detector is None:
            state.detector = SeriesDetector(self.config)
        state.active = state.detector.observe(value, state.last_at_s or 0.0).anomalous
        return state.active

    def describe(self) -> str:
        """E.g. `speed anomalous`."""
        return f"{self.attribute} anomalous"


@dataclass(eq=False)
class Combined(Condition):
    """All (and) or any (or) of several conditions."""

    mode: str
    parts: tuple[Condition, ...]

    def attributes(self) -> set[str]:
        """Every attribute of every part."""
        return set().union(*(part.attributes() for part in self.parts))

    def evaluate(self, states: dict[int, LeafState], readings: Readings, now_s: float) -> bool:
        """Every part is evaluated (so each keeps its state), then combined."""
        results = [part.evaluate(states, readings, now_s) for part in self.parts]
        return all(results) if self.mode == "all" else any(results)

    def describe(self) -> str:
        """The parts joined by `and` / `or`."""
        joiner = " and " if self.mode == "all" else " or "
        return joiner.join(f"({part.describe()})" for part in self.parts)


def _new_value(state: LeafState, reading: Reading | None) -> float | None:
    """The reading's value if it is a number not seen before (then noted as seen)."""
    if reading is None or reading.value is None or reading.at_s == state.last_at_s:
        return None
    state.last_at_s = reading.at_s
    return reading.value


def parse_condition(raw: Any) -> Condition:
    """The condition tree of a rule's JSON form; ConditionError says what is wrong."""
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ConditionError("a condition is an object with exactly one member")
    kind, body = next(iter(raw.items()))
    if kind in ("all", "any"):
        if not isinstance(body, list) or not body:
            raise ConditionError(f'"{kind}" needs a non-empty list of conditions')
        return Combined(kind, tuple(parse_condition(part) for part in body))
    parser = _PARSERS.get(kind)
    if parser is None:
        known = ", ".join(sorted([*_PARSERS, "all", "any"]))
        raise ConditionError(f"unknown condition {kind!r}; expected one of {known}")
    if not isinstance(body, dict):
        raise ConditionError(f'"{kind}" needs an object')
    return parser(body)


def _threshold(body: dict[str, Any]) -> Condition:
    op = _op(body)
    value = _number(body, "value")
    clear = _number(body, "clear") if "clear" in body else value
    if (op in (">", ">=") and clear > value) or (op in ("<", "<=") and clear < value):
        raise ConditionError("threshold: `clear` must lie on the normal side of `value`")
    return Threshold(_attribute(body), op, value, clear, _duration(body, "for", 0.0))


def _rate(body: dict[str, Any]) -> Condition:
    per_s = _duration(body, "per", 3600.0)
    if per_s <= 0:
        raise ConditionError("rate: `per` must be positive")
    return Rate(_attribute(body), _op(body), _number(body, "value"), per_s)


def _absence(body: dict[str, Any]) -> Condition:
    for_s = _duration(body, "for", None)
    if for_s <= 0:
        raise ConditionError("absence: `for` must be positive")
    return Absence(_attribute(body), for_s)


def _anomaly(body: dict[str, Any]) -> Condition:
    defaults = DetectorConfig()
    threshold = _number(body, "threshold") if "threshold" in body else defaults.threshold
    if threshold <= 0:
        raise ConditionError("anomaly: `threshold` must be positive")
    return Anomaly(_attribute(body), DetectorConfig(threshold=threshold))


_PARSERS: dict[str, Callable[[dict[str, Any]], Condition]] = {
    "threshold": _threshold,
    "rate": _rate,
    "absence": _absence,
    "anomaly": _anomaly,
}


def _attribute(body: dict[str, Any]) -> str:
    name = body.get("attribute")
    if not isinstance(name, str) or not name:
        raise ConditionError("a condition needs an `attribute` name")
    return name


def _op(body: dict[str, Any]) -> str:
    op = body.get("op")
    if op not in _OPS:
        raise ConditionError(f"`op` must be one of {', '.join(_OPS)}")
    return str(op)


def _number(body: dict[str, Any], key: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConditionError(f"`{key}` must be a finite number")
    return float(value)


def _duration(body: dict[str, Any], key: str, default: float | None) -> float:
    """Seconds from a number or an ISO 8601 duration (PT15M)."""
    if key not in body:
        if default is None:
            raise ConditionError(f"`{key}` is required (seconds or an ISO 8601 duration)")
        return default
    return parse_duration_s(body[key], key)


def parse_duration_s(raw: Any, what: str = "duration") -> float:
    """Seconds from a non-negative number or an ISO 8601 duration; ConditionError otherwise."""
    if isinstance(raw, int | float) and not isinstance(raw, bool) and raw >= 0:
        return float(raw)
    if isinstance(raw, str):
        try:
            parsed = isodate.parse_duration(raw)
        except (isodate.ISO8601Error, ValueError):
            parsed = None
        if isinstance(parsed, timedelta) and parsed.total_seconds() >= 0:
            return parsed.total_seconds()
    raise ConditionError(f"`{what}` must be seconds or an ISO 8601 duration like PT15M")
