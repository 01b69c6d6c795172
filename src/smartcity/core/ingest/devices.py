"""Provisioning of service groups and devices, and the device profiles the ingest path uses.

A device and the entities it feeds are created in one transaction: the asset entity (its
`entity_type`, static attributes and location) and a Smart Data Model `Device` entity that
mirrors the device's health.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from smartcity.core.context.errors import NgsiLdError
from smartcity.core.context.jsonld import ActiveContext
from smartcity.core.context.model import EntityInput, is_uri, parse_entity
from smartcity.core.context.service import ContextBroker
from smartcity.core.context.times import format_us, now_us
from smartcity.core.db import Database

from . import repository
from .errors import (
    BadIotRequest,
    DeviceNotFound,
    DuplicateDevice,
    DuplicateGroup,
    GroupNotFound,
    OutOfScope,
)
from .mapping import UL_PROTOCOL, AttrSpec, DeviceProfile, Rejected, UnknownDevice, UnknownGroup
from .schemas import AttributeIn, DeviceIn, DevicePatch, GroupIn, GroupPatch

#: Says whether the caller may provision or command devices of an (expanded) entity type.
TypeCheck = Callable[[str], bool]


def device_entity_id(device_id: str) -> str:
    """The id of the Smart Data Model `Device` entity that mirrors a device."""
    return f"urn:ngsi-ld:Device:{device_id}"


class DeviceRegistry:
    """Service groups and devices over one database, with a short-lived profile cache."""

    def __init__(
        self, database: Database, broker: ContextBroker, ctx: ActiveContext, cache_s: float = 5.0
    ) -> None:
        self.database = database
        self.broker = broker
        self.ctx = ctx
        self.cache_s = cache_s
        self._cache: dict[tuple[str, str], tuple[float, DeviceProfile | Rejected]] = {}
        self._lock = threading.Lock()

    # --- service groups ------------------------------------------------------------------

    def create_groups(self, groups: Sequence[GroupIn], actor: str, may: TypeCheck) -> None:
        """Create service groups; DuplicateGroup if an apikey is taken."""
        for group in groups:
            self._check_type(group.entity_type, may)
        now = now_us()
        rows = [_group_row(group, actor, now) for group in groups]
        if len({row["apikey"] for row in rows}) != len(rows):
            raise DuplicateGroup("the same apikey appears twice in the request")
        try:
            self.database.run_write(lambda conn: repository.insert_groups(conn, rows))
        except IntegrityError:
            raise DuplicateGroup("a service group with this apikey exists already") from None
        self.forget()

    def list_groups(
        self, limit: int, offset: int, types: Iterable[str] | None = None
    ) -> tuple[int, list[dict[str, Any]]]:
        """A page of service groups in the IoT Agent's shape (of these types, when given)."""
        with self.database.read() as conn:
            total, rows = repository.list_groups(conn, limit, offset, types)
        return total, [group_out(row) for row in rows]

    def update_group(self, apikey: str, patch: GroupPatch, may: TypeCheck) -> None:
        """Change a service group's defaults (devices provisioned later inherit them)."""
        self._check_group_scope(apikey, may)
        if patch.entity_type is not None:
            self._check_type(patch.entity_type, may)
        values = _group_values(patch)
        if values and not self.database.run_write(
            lambda conn: repository.update_group(conn, apikey, values)
        ):
            raise GroupNotFound(f"no service group with apikey {apikey!r}")
        self.forget()

    def delete_group(self, apikey: str, may: TypeCheck) -> None:
        """Delete a service group that has no devices left."""
        self._check_group_scope(apikey, may)

        def job(conn: Connection) -> None:
            if repository.count_devices_of_group(conn, apikey):
                raise BadIotRequest("the group still has devices; delete them first")
            if not repository.delete_group(conn, apikey):
                raise GroupNotFound(f"no service group with apikey {apikey!r}")

        self.database.run_write(job)
        self.forget()

    # --- devices -------------------------------------------------------------------------

    def create_devices(self, devices: Sequence[DeviceIn], actor: str, may: TypeCheck) -> None:
        """Provision devices with their entities, all or nothing."""
        ids = [device.device_id for device in devices]
        if len(set(ids)) != len(ids):
            raise DuplicateDevice("the same device_id appears twice in the request")
        now = now_us()

        def job(conn: Connection) -> None:
            taken = repository.existing_device_ids(conn, ids)
            if taken:
                raise DuplicateDevice(f"devices exist already: {', '.join(sorted(taken)[:20])}")
            groups = _groups_by_apikey(conn, devices)
            rows = [self._device_row(d, groups, actor, now, may) for d in devices]
            repository.insert_devices(conn, rows)
            self._upsert_entities(conn, rows, groups, now)

        self.database.run_write(job)
        self.forget()

    def get_device(self, device_id: str, may: TypeCheck) -> dict[str, Any]:
        """One device in the IoT Agent's shape, with its health."""
        with self.database.read() as conn:
            row = repository.get_device(conn, device_id)
        if row is None or not may(row["entity_type"]):
            raise DeviceNotFound(f"no device {device_id!r}")
        return device_out(row, self.ctx)

    def devices_of_entity(self, entity_id: str) -> list[str]:
        """The ids of the devices provisioned for an entity (an actuator's commands go there)."""
        with self.database.read() as conn:
            return repository.device_ids_of_entity(conn, entity_id)

    def list_devices(
        self, limit: int, offset: int, types: Iterable[str] | None
    ) -> tuple[int, list[dict[str, Any]]]:
        """A page of devices (of these expanded entity types only, when given)."""
        with self.database.read() as conn:
            total, rows = repository.list_devices(conn, limit, offset, types)
        return total, [device_out(row, self.ctx) for row in rows]

    def update_device(self, device_id: str, patch: DevicePatch, may: TypeCheck) -> None:
        """Change a device's mapping, interval, location or transport."""
        now = now_us()

        def job(conn: Connection) -> None:
            row = repository.get_device(conn, device_id)
            if row is None or not may(row["entity_type"]):
                raise DeviceNotFound(f"no device {device_id!r}")
            values = _device_values(patch)
            if patch.entity_name:
                # The device feeds a new entity from now on; the old one keeps its history.
                values["entity_name"] = _entity_id(patch.entity_name, row["entity_type"], self.ctx)
            if values:
                repository.update_device(conn, device_id, values)
                row.update(values)
                group = repository.get_group(conn, row["apikey"]) or {}
                self._upsert_entities(conn, [row], {row["apikey"]: group}, now)

        self.database.run_write(job)
        self.forget()

    def delete_device(self, device_id: str, may: TypeCheck) -> None:
        """Remove a device and its Device entity; the asset entity and history stay."""

        def job(conn: Connection) -> None:
            row = repository.get_device(conn, device_id)
            if row is None or not may(row["entity_type"]):
                raise DeviceNotFound(f"no device {device_id!r}")
            repository.delete_device(conn, device_id)
            self.broker.batch_delete.build([device_entity_id(device_id)])(conn)

        self.database.run_write(job)
        self.forget()

    # --- profiles for the ingest path ----------------------------------------------------

    def profile(self, apikey: str | None, device_id: str | None) -> DeviceProfile:
        """The device's profile; Rejected for an unknown apikey or device."""
        if not apikey or not device_id:
            raise Rejected("apikey (k) and device id (i) are both required")
        key = (apikey, device_id)
        hit = self._cache.get(key)
        if hit is None or hit[0] < time.monotonic():
            loaded = self._load_profile(apikey, device_id)
            # An unknown device may be provisioned any moment: remember that for less long.
            keep = min(self.cache_s, 5.0) if isinstance(loaded, Rejected) else self.cache_s
            hit = (time.monotonic() + keep, loaded)
            with self._lock:
                self._cache[key] = hit
        if isinstance(hit[1], Rejected):
            raise hit[1]
        return hit[1]

    def forget(self) -> None:
        """Drop cached profiles (after provisioning changes in this process)."""
        with self._lock:
            self._cache.clear()

    def _load_profile(self, apikey: str, device_id: str) -> DeviceProfile | Rejected:
        with self.database.read() as conn:
            group = repository.get_group(conn, apikey)
            device = repository.get_device(conn, device_id)
        if group is None:
            return UnknownGroup(f"unknown apikey {apikey!r}")
        if device is None or device["apikey"] != apikey:
            return UnknownDevice(f"unknown device {device_id!r} under this apikey")
        return _profile(group, device)

    # --- helpers -------------------------------------------------------------------------

    def _check_type(self, entity_type: str, may: TypeCheck) -> str:
        iri = self.ctx.expand(entity_type)
        if not may(iri):
            raise OutOfScope(f"you may not provision devices of type {entity_type!r}")
        return iri

    def _check_group_scope(self, apikey: str, may: TypeCheck) -> None:
        with self.database.read() as conn:
            group = repository.get_group(conn, apikey)
        if group is None:
            raise GroupNotFound(f"no service group with apikey {apikey!r}")
        self._check_type(group["entity_type"], may)

    def _device_row(
        self,
        device: DeviceIn,
        groups: dict[str, dict[str, Any]],
        actor: str,
        now: int,
        may: TypeCheck,
    ) -> dict[str, Any]:
        group = _group_of(device, groups)
        entity_type = self._check_type(device.entity_type or group["entity_type"], may)
        return {
            "device_id": device.device_id,
            "apikey": group["apikey"],
            "entity_name": _entity_id(
                device.entity_name or device.device_id, entity_type, self.ctx
            ),
            "entity_type": entity_type,
            "protocol": device.protocol,
            "transport": device.transport,
            "attributes": [_attr_json(a) for a in device.attributes],
            "commands": [c.name for c in device.commands],
            "static_attributes": [s.model_dump() for s in device.static_attributes],
            "explicit_attrs": (
                device.explicitAttrs
                if device.explicitAttrs is not None
                else bool(group["explicit_attrs"])
            ),
            "expected_interval_s": device.expected_interval_s or group["expected_interval_s"],
            "location": device.location,
            "created_by": actor,
            "created_at": now,
            "state": "unknown",
        }

    def _upsert_entities(
        self,
        conn: Connection,
        rows: Sequence[dict[str, Any]],
        groups: dict[str, dict[str, Any]],
        now: int,
    ) -> None:
        """Create or update each device's asset entity and its Device entity."""
        items: list[EntityInput] = []
        for row in rows:
            group = groups.get(row["apikey"], {})
            try:
                items.append(parse_entity(_asset_entity(row, group), self.ctx, now))
                items.append(parse_entity(_device_entity(row, group), self.ctx, now))
            except NgsiLdError as error:
                raise BadIotRequest(f"device {row['device_id']}: {error.detail}") from None
        self.broker.batch_upsert.build(items, replace=False)(conn)


# --- pure helpers ------------------------------------------------------------------------


def _group_row(group: GroupIn, actor: str, now: int) -> dict[str, Any]:
    return {
        "apikey": group.apikey,
        "resource": group.resource,
        "entity_type": group.entity_type,
        "attributes": [_attr_json(a) for a in group.attributes],
        "commands": [c.name for c in group.commands],
        "static_attributes": [s.model_dump() for s in group.static_attributes],
        "explicit_attrs": group.explicitAttrs,
        "expected_interval_s": group.expected_interval_s,
        "created_by": actor,
        "created_at": now,
    }


def _group_values(patch: GroupPatch) -> dict[str, Any]:
    return _patch_values(patch, ("entity_type", "resource", "expected_interval_s"))


def _device_values(patch: DevicePatch) -> dict[str, Any]:
    return _patch_values(patch, ("expected_interval_s", "location", "transport"))


def _patch_values(patch: GroupPatch | DevicePatch, plain: tuple[str, ...]) -> dict[str, Any]:
    """Column values for the members a PUT body sets (groups and devices share the mapping)."""
    values: dict[str, Any] = {
        name: getattr(patch, name) for name in plain if getattr(patch, name) is not None
    }
    if patch.attributes is not None:
        values["attributes"] = [_attr_json(a) for a in patch.attributes]
    if patch.commands is not None:
        values["commands"] = [c.name for c in patch.commands]
    if patch.static_attributes is not None:
        values["static_attributes"] = [s.model_dump() for s in patch.static_attributes]
    if patch.explicitAttrs is not None:
        values["explicit_attrs"] = patch.explicitAttrs
    return values


def _attr_json(attr: AttributeIn) -> dict[str, Any]:
    return {
        "object_id": attr.object_id or attr.name,
        "name": attr.name,
        "type": attr.type,
        "unitCode": attr.unit_code(),
    }


def _groups_by_apikey(conn: Connection, devices: Sequence[DeviceIn]) -> dict[str, dict[str, Any]]:
    """The groups the devices name, plus every group when some device names none."""
    groups: dict[str, dict[str, Any]] = {}
    for apikey in {d.apikey for d in devices if d.apikey}:
        group = repository.get_group(conn, apikey)
        if group is None:
            raise GroupNotFound(f"no service group with apikey {apikey!r}; create it first")
        groups[apikey] = group
    if any(d.apikey is None for d in devices):
        _, rows = repository.list_groups(conn, 10000, 0)
        groups.update({row["apikey"]: row for row in rows})
    return groups


def _group_of(device: DeviceIn, groups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The device's group: the one it names, else the only one of its entity type."""
    if device.apikey:
        return groups[device.apikey]
    matches = [g for g in groups.values() if g["entity_type"] == device.entity_type]
    if len(matches) != 1:
        raise BadIotRequest(
            f"device {device.device_id}: give its apikey (no single service group has "
            f"entity_type {device.entity_type!r})"
        )
    return matches[0]


def _entity_id(name: str, entity_type: str, ctx: ActiveContext) -> str:
    """The entity's id: the name when it is a URI, else urn:ngsi-ld:<type>:<name>."""
    if is_uri(name) and ":" in name and not name.startswith(("http:", "https:")):
        return name
    return f"urn:ngsi-ld:{ctx.compact(entity_type)}:{name}"


def _profile(group: dict[str, Any], device: dict[str, Any]) -> DeviceProfile:
    attrs: dict[str, AttrSpec] = {}
    for raw in [*group["attributes"], *device["attributes"]]:
        spec = AttrSpec(raw["object_id"], raw["name"], raw["type"], raw.get("unitCode"))
        attrs[spec.name] = spec
        attrs[spec.object_id] = spec
    return DeviceProfile(
        device_id=device["device_id"],
        apikey=device["apikey"],
        entity_id=device["entity_name"],
        entity_type=device["entity_type"],
        protocol=device["protocol"],
        transport=device["transport"],
        attrs=attrs,
        commands=frozenset([*group["commands"], *device["commands"]]),
        explicit_attrs=bool(device["explicit_attrs"]),
        expected_interval_s=device["expected_interval_s"],
    )


def _static(attr: dict[str, Any]) -> dict[str, Any]:
    """A static attribute as an NGSI-LD attribute."""
    if attr["type"] == "Relationship":
        return {"type": "Relationship", "object": attr["value"]}
    if attr["type"] == "geo:point" and isinstance(attr["value"], str):
        lat, lon = (float(part) for part in attr["value"].split(","))
        return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}
    if attr["type"] in ("geo:json", "GeoProperty"):
        return {"type": "GeoProperty", "value": attr["value"]}
    return {"type": "Property", "value": attr["value"]}


def _asset_entity(row: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
    entity: dict[str, Any] = {"id": row["entity_name"], "type": row["entity_type"]}
    for attr in [*group.get("static_attributes", []), *row["static_attributes"]]:
        try:
            entity[attr["name"]] = _static(attr)
        except ValueError:
            raise BadIotRequest(f"static attribute {attr['name']}: bad value") from None
    if row["location"]:
        entity["location"] = {"type": "GeoProperty", "value": row["location"]}
    return entity


def _device_entity(row: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
    names = sorted({a["name"] for a in [*group.get("attributes", []), *row["attributes"]]}) or [
        "unknown"
    ]
    entity: dict[str, Any] = {
        "id": device_entity_id(row["device_id"]),
        "type": "Device",
        "controlledAsset": {"type": "Relationship", "object": row["entity_name"]},
        "controlledProperty": {"type": "Property", "value": names},
        "deviceState": {"type": "Property", "value": row.get("state") or "unknown"},
        "supportedProtocol": {
            "type": "Property",
            "value": ["ul20" if row["protocol"] == UL_PROTOCOL else "JSON", row["transport"]],
        },
    }
    if row.get("expected_interval_s"):
        entity["reportingInterval"] = {
            "type": "Property",
            "value": row["expected_interval_s"],
            "unitCode": "SEC",
        }
    if row["location"]:
        entity["location"] = {"type": "GeoProperty", "value": row["location"]}
    return entity


def group_out(row: dict[str, Any]) -> dict[str, Any]:
    """A service group as the IoT Agent shows it."""
    return {
        "apikey": row["apikey"],
        "resource": row["resource"],
        "entity_type": row["entity_type"],
        "attributes": row["attributes"],
        "commands": [{"name": name, "type": "command"} for name in row["commands"]],
        "static_attributes": row["static_attributes"],
        "explicitAttrs": row["explicit_attrs"],
        "expected_interval_s": row["expected_interval_s"],
    }


def device_out(row: dict[str, Any], ctx: ActiveContext) -> dict[str, Any]:
    """A device as the IoT Agent shows it, plus its health."""
    return {
        "device_id": row["device_id"],
        "apikey": row["apikey"],
        "entity_name": row["entity_name"],
        "entity_type": ctx.compact(row["entity_type"]),
        "protocol": row["protocol"],
        "transport": row["transport"],
        "attributes": row["attributes"],
        "commands": [{"name": name, "type": "command"} for name in row["commands"]],
        "static_attributes": row["static_attributes"],
        "explicitAttrs": row["explicit_attrs"],
        "expected_interval_s": row["expected_interval_s"],
        "location": row["location"],
        "health": {
            "state": row["state"],
            "lastSeen": _iso(row["last_seen_us"]),
            "batteryLevel": row["battery"],
            "rssi": row["rssi"],
        },
    }


def _iso(us: int | None) -> str | None:
    return format_us(us) if us else None
