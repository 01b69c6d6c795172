"""Device payloads to attribute values: FIWARE IoT Agent JSON and UltraLight 2.0.

Pure functions, no I/O. A payload is split into measure groups (one JSON object, or one
`#`-separated UltraLight group), each with an optional timestamp (`TimeInstant`); every value
is mapped through the device's attribute list (`object_id` → name, type, unit code) and
checked against its declared type. Anything that cannot be stored raises `Rejected` with the
reason a person will read in the dead-letter list.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from smartcity.core.context.errors import NgsiLdError
from smartcity.core.context.model import check_name, is_uri
from smartcity.core.context.times import format_us, parse_datetime_us

JSON_PROTOCOL = "IoTA-JSON"
UL_PROTOCOL = "IoTA-UL"
#: Payload members that carry the time of a measure group rather than a value.
TIMESTAMP_KEYS = ("TimeInstant", "timeInstant", "observedAt")
_NUMBER_TYPES = frozenset({"Number", "Float", "Integer", "number", "float", "integer", "Double"})
_TEXT_TYPES = frozenset({"Text", "String", "string", "text"})
_BOOL_TYPES = frozenset({"Boolean", "boolean", "Bool"})
_UL_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")


class Rejected(Exception):
    """A payload or value that cannot be stored; `reason` says why, in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownGroup(Rejected):
    """No service group has the apikey the message names."""


class UnknownDevice(Rejected):
    """The apikey's group has no device with this id."""


@dataclass(frozen=True)
class AttrSpec:
    """How one device attribute maps: payload key (`object_id`) → NGSI-LD name and type."""

    object_id: str
    name: str
    type: str = "Number"
    unit_code: str | None = None


@dataclass(frozen=True)
class DeviceProfile:
    """What the ingest path needs to know about one provisioned device."""

    device_id: str
    apikey: str
    entity_id: str
    entity_type: str
    protocol: str = JSON_PROTOCOL
    transport: str = "MQTT"
    attrs: Mapping[str, AttrSpec] = field(default_factory=dict)
    commands: frozenset[str] = frozenset()
    explicit_attrs: bool = False
    expected_interval_s: int | None = None


@dataclass(frozen=True)
class Measure:
    """One value of one attribute at one time, ready to be stored."""

    name: str
    instance: dict[str, Any]
    observed_us: int
    number: float | None


def parse_json_payload(payload: bytes) -> list[dict[str, Any]]:
    """Measure groups of an IoT Agent JSON payload: one object, or an array of objects."""
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise Rejected(f"malformed JSON: {error}") from None
    groups = document if isinstance(document, list) else [document]
    if not groups or not all(isinstance(group, dict) for group in groups):
        raise Rejected("payload must be a JSON object or a non-empty array of objects")
    return groups


def parse_ultralight(payload: bytes) -> list[dict[str, Any]]:
    """Measure groups of an UltraLight 2.0 payload: `t|25.3|h|61#2026-…Z|t|25.1`."""
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise Rejected("UltraLight payload is not UTF-8 text") from None
    if not text:
        raise Rejected("empty UltraLight payload")
    return [_ul_group(group) for group in text.split("#") if group.strip()]


def _ul_group(group: str) -> dict[str, Any]:
    fields = [part.strip() for part in group.strip().split("|")]
    measures: dict[str, Any] = {}
    if len(fields) % 2 == 1:
        # An odd field count means the group starts with its timestamp.
        measures["TimeInstant"] = fields.pop(0)
    for key, value in zip(fields[::2], fields[1::2], strict=True):
        if not key:
            raise Rejected(f"UltraLight group {group!r} has an empty key")
        # Kept as text: the declared type decides (a Text "007" must stay "007").
        measures[key] = value
    return measures


def parse_payload(protocol: str, payload: bytes) -> list[dict[str, Any]]:
    """Measure groups of a payload in the device's protocol."""
    if protocol == UL_PROTOCOL:
        return parse_ultralight(payload)
    return parse_json_payload(payload)


def to_measures(
    profile: DeviceProfile,
    groups: list[dict[str, Any]],
    received_us: int,
    max_future_us: int,
) -> list[Measure]:
    """Map measure groups to typed measures; Rejected if any value cannot be stored."""
    measures: list[Measure] = []
    for group in groups:
        observed = _group_time(group, received_us, max_future_us)
        for key, raw in group.items():
            if key in TIMESTAMP_KEYS:
                continue
            spec = profile.attrs.get(key)
            if spec is None:
                if profile.explicit_attrs:
                    continue  # explicitAttrs: only provisioned attributes are kept
                spec = AttrSpec(object_id=key, name=key, type=_inferred_type(raw))
            measures.append(_measure(spec, raw, observed))
    if not measures:
        raise Rejected("no attribute values in the payload")
    return measures


def _group_time(group: Mapping[str, Any], received_us: int, max_future_us: int) -> int:
    """The group's own timestamp, else the time it was received."""
    stamp = next((group[key] for key in TIMESTAMP_KEYS if key in group), None)
    if stamp is None:
        return received_us
    try:
        observed = parse_datetime_us(stamp, "TimeInstant")
    except NgsiLdError:
        raise Rejected(f"TimeInstant {stamp!r} is not an ISO 8601 date-time") from None
    if observed > received_us + max_future_us:
        ahead = (observed - received_us) / 1e6
        raise Rejected(f"TimeInstant {stamp} is {ahead:.0f} s in the future (device clock?)")
    return observed


def _inferred_type(raw: Any) -> str:
    """The type of an unprovisioned value; numeric text (all UltraLight values) is a Number."""
    if isinstance(raw, bool):
        return "Boolean"
    if isinstance(raw, int | float) or (isinstance(raw, str) and _UL_NUMBER.match(raw)):
        return "Number"
    if isinstance(raw, dict | list):
        return "StructuredValue"
    return "Text"


def _measure(spec: AttrSpec, raw: Any, observed_us: int) -> Measure:
    try:
        check_name(spec.name)
    except NgsiLdError:
        raise Rejected(f"attribute name {spec.name!r} is not allowed in NGSI-LD") from None
    kind, value, number = _convert(spec, raw)
    member = "object" if kind == "Relationship" else "value"
    instance: dict[str, Any] = {"type": kind, member: value, "observedAt": format_us(observed_us)}
    if spec.unit_code:
        instance["unitCode"] = spec.unit_code
    return Measure(name=spec.name, instance=instance, observed_us=observed_us, number=number)


def _convert(spec: AttrSpec, raw: Any) -> tuple[str, Any, float | None]:
    """(NGSI-LD attribute kind, value, numeric value) of a raw value of a declared type."""
    converter = _CONVERTERS.get(spec.type)
    if converter is None:
        if spec.type in _NUMBER_TYPES:
            number = _number(spec, raw)
            return "Property", number, float(number)
        # Other declared types (StructuredValue, Json, custom names): any JSON value.
        return "Property", raw, None
    return converter(spec, raw)


def _number(spec: AttrSpec, raw: Any) -> int | float:
    if isinstance(raw, bool):
        raise _wrong(spec, raw)
    if isinstance(raw, str):
        text = raw.strip().replace(",", ".")
        # Only plain decimal notation: Python would also take "1_000" or non-ASCII digits.
        if not _UL_NUMBER.match(text):
            raise _wrong(spec, raw)
        raw = int(text) if text.lstrip("+-").isdigit() else float(text)
    if not isinstance(raw, int | float) or (isinstance(raw, float) and not math.isfinite(raw)):
        raise _wrong(spec, raw)
    if spec.type in ("Integer", "integer"):
        if raw != int(raw):
            raise _wrong(spec, raw)
        return int(raw)
    return raw


def _text(spec: AttrSpec, raw: Any) -> tuple[str, Any, float | None]:
    if isinstance(raw, dict | list) or raw is None:
        raise _wrong(spec, raw)
    if isinstance(raw, bool):
        return "Property", "true" if raw else "false", None
    return "Property", str(raw), None


def _boolean(spec: AttrSpec, raw: Any) -> tuple[str, Any, float | None]:
    if isinstance(raw, bool):
        return "Property", raw, None
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return "Property", raw.lower() == "true", None
    if isinstance(raw, int | float) and raw in (0, 1):
        return "Property", bool(raw), None
    raise _wrong(spec, raw)


def _geo_point(spec: AttrSpec, raw: Any) -> tuple[str, Any, float | None]:
    """`"lat, lon"` (the IoT Agent convention) or a GeoJSON Point."""
    if isinstance(raw, dict) and raw.get("type") == "Point":
        coords = raw.get("coordinates")
        if not (isinstance(coords, list) and len(coords) in (2, 3)):
            raise _wrong(spec, raw)
        lon, lat = coords[0], coords[1]
    else:
        try:
            lat, lon = (float(part) for part in str(raw).split(","))
        except ValueError:
            raise _wrong(spec, raw) from None
    if not all(isinstance(c, int | float) and math.isfinite(c) for c in (lat, lon)):
        raise _wrong(spec, raw)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise _wrong(spec, raw)
    return "GeoProperty", {"type": "Point", "coordinates": [lon, lat]}, None


def _geo_json(spec: AttrSpec, raw: Any) -> tuple[str, Any, float | None]:
    if not (isinstance(raw, dict) and isinstance(raw.get("type"), str) and "coordinates" in raw):
        raise _wrong(spec, raw)
    return "GeoProperty", raw, None


def _datetime(spec: AttrSpec, raw: Any) -> tuple[str, Any, float | None]:
    try:
        instant = parse_datetime_us(raw)
    except NgsiLdError:
        raise _wrong(spec, raw) from None
    return "Property", {"@type": "DateTime", "@value": format_us(instant)}, None


def _relationship(spec: AttrSpec, raw: Any) -> tuple[str, Any, float | None]:
    if not is_uri(raw):
        raise _wrong(spec, raw)
    return "Relationship", raw, None


def _wrong(spec: AttrSpec, raw: Any) -> Rejected:
    shown = repr(raw)[:80]
    return Rejected(f"attribute {spec.object_id}: expected {spec.type}, got {shown}")


_CONVERTERS: dict[str, Callable[[AttrSpec, Any], tuple[str, Any, float | None]]] = {
    **{name: _text for name in _TEXT_TYPES},
    **{name: _boolean for name in _BOOL_TYPES},
    "geo:point": _geo_point,
    "geo:json": _geo_json,
    "DateTime": _datetime,
    "Relationship": _relationship,
}


# --- commands ----------------------------------------------------------------------------


def command_payload(protocol: str, device_id: str, name: str, value: Any) -> bytes:
    """What a device receives on `/cmd`: `{"name": value}`, or UltraLight `dev@name|value`."""
    if protocol == UL_PROTOCOL:
        shown = value if isinstance(value, str) else orjson.dumps(value).decode()
        return f"{device_id}@{name}|{shown}".encode()
    return orjson.dumps({name: value})


def parse_command_result(protocol: str, payload: bytes) -> dict[str, Any]:
    """Command results a device sends on `/cmdexe`: `{"name": result}` or `dev@name|result`."""
    if protocol == UL_PROTOCOL:
        text = payload.decode("utf-8", errors="replace").strip()
        head, _, result = text.partition("|")
        _, at, name = head.partition("@")
        if not at or not name:
            raise Rejected(f"UltraLight command result {text[:80]!r} is not dev@command|result")
        return {name: result}
    groups = parse_json_payload(payload)
    if len(groups) != 1:
        raise Rejected("a command result must be one JSON object")
    return groups[0]


def command_failed(result: Any) -> bool:
    """Whether a device's command result reports a failure (an `error` member or ERROR…)."""
    if isinstance(result, dict):
        return "error" in result
    return isinstance(result, str) and result.upper().startswith("ERROR")
