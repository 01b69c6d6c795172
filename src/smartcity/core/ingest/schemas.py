"""Provisioning payloads in the shape of the FIWARE IoT Agent (`/iot/services`, `/iot/devices`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .mapping import JSON_PROTOCOL, UL_PROTOCOL

#: Protocol names used by IoT Agent deployments, to ours.
PROTOCOL_ALIASES = {
    "IoTA-JSON": JSON_PROTOCOL,
    "PDI-IoTA-JSON": JSON_PROTOCOL,
    "JSON": JSON_PROTOCOL,
    "json": JSON_PROTOCOL,
    "IoTA-UL": UL_PROTOCOL,
    "PDI-IoTA-UltraLight": UL_PROTOCOL,
    "UL": UL_PROTOCOL,
    "ul": UL_PROTOCOL,
    "ul20": UL_PROTOCOL,
}
# Apikeys and device ids appear as MQTT topic levels: no wildcards, separators or spaces.
TOPIC_SAFE = r"^[A-Za-z0-9_.:\-]{1,128}$"


class _Tolerant(BaseModel):
    """IoT Agent payloads carry fields we do not use (lazy, timezone, cbroker…): ignored."""

    model_config = ConfigDict(extra="ignore")


class AttributeIn(_Tolerant):
    """An active attribute: payload key `object_id` → NGSI-LD `name` of `type`."""

    object_id: str | None = None
    name: str = Field(min_length=1, max_length=256)
    type: str = "Number"
    unitCode: str | None = None
    metadata: dict[str, Any] | None = None

    def unit_code(self) -> str | None:
        """The UN/CEFACT unit code, from `unitCode` or the IoT Agent's metadata form."""
        if self.unitCode:
            return self.unitCode
        meta = (self.metadata or {}).get("unitCode")
        if isinstance(meta, dict) and isinstance(meta.get("value"), str):
            return str(meta["value"])
        return meta if isinstance(meta, str) else None


class CommandIn(_Tolerant):
    """A command the device accepts."""

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$")
    type: str = "command"


class StaticAttributeIn(_Tolerant):
    """An attribute with a fixed value, set on the entity at provisioning."""

    name: str = Field(min_length=1, max_length=256)
    type: str = "Text"
    value: Any = None


class GroupIn(_Tolerant):
    """A service group: the apikey its devices use and their defaults."""

    apikey: str = Field(pattern=TOPIC_SAFE)
    resource: str = "/iot/json"
    entity_type: str = Field(min_length=1, max_length=256)
    attributes: list[AttributeIn] = []
    commands: list[CommandIn] = []
    static_attributes: list[StaticAttributeIn] = []
    explicitAttrs: bool = False
    #: Expected seconds between reports; silent 3× as long means offline.
    expected_interval_s: int | None = Field(default=None, ge=1)


class GroupsIn(_Tolerant):
    """POST /iot/services body."""

    services: list[GroupIn] = Field(min_length=1, max_length=1000)


class GroupPatch(_Tolerant):
    """PUT /iot/services body: the fields to change."""

    entity_type: str | None = None
    resource: str | None = None
    attributes: list[AttributeIn] | None = None
    commands: list[CommandIn] | None = None
    static_attributes: list[StaticAttributeIn] | None = None
    explicitAttrs: bool | None = None
    expected_interval_s: int | None = Field(default=None, ge=1)


class DeviceIn(_Tolerant):
    """One device: its id, the entity it feeds and how its payload maps onto it."""

    device_id: str = Field(pattern=TOPIC_SAFE)
    apikey: str | None = Field(default=None, pattern=TOPIC_SAFE)
    entity_name: str | None = None
    entity_type: str | None = None
    protocol: str = "IoTA-JSON"
    transport: Literal["MQTT", "HTTP"] = "MQTT"
    attributes: list[AttributeIn] = []
    commands: list[CommandIn] = []
    static_attributes: list[StaticAttributeIn] = []
    explicitAttrs: bool | None = None
    expected_interval_s: int | None = Field(default=None, ge=1)
    #: GeoJSON Point where the device is.
    location: dict[str, Any] | None = None

    @field_validator("protocol")
    @classmethod
    def _known_protocol(cls, value: str) -> str:
        if value not in PROTOCOL_ALIASES:
            raise ValueError(f"unknown protocol {value!r}; use IoTA-JSON or IoTA-UL")
        return PROTOCOL_ALIASES[value]

    @field_validator("location")
    @classmethod
    def _point(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        coords = value.get("coordinates")
        if value.get("type") != "Point" or not isinstance(coords, list) or len(coords) != 2:
            raise ValueError("location must be a GeoJSON Point [longitude, latitude]")
        if not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords):
            raise ValueError("location coordinates must be numbers")
        lon, lat = coords
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError("location coordinates out of range")
        return value


class DevicesIn(_Tolerant):
    """POST /iot/devices body."""

    devices: list[DeviceIn] = Field(min_length=1, max_length=10000)


class DevicePatch(_Tolerant):
    """PUT /iot/devices/{id} body: the fields to change."""

    entity_name: str | None = None
    attributes: list[AttributeIn] | None = None
    commands: list[CommandIn] | None = None
    static_attributes: list[StaticAttributeIn] | None = None
    explicitAttrs: bool | None = None
    expected_interval_s: int | None = Field(default=None, ge=1)
    location: dict[str, Any] | None = None
    transport: Literal["MQTT", "HTTP"] | None = None


class CommandRequest(BaseModel):
    """POST /api/devices/{id}/commands body."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    value: Any = None
