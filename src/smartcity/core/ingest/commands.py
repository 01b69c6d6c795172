"""Device commands (`/cmd` → `/cmdexe`) and the device health sweep.

A command is stored PENDING with a deadline, shown on the entity as `<name>_status`, and
sent: published on `/<apikey>/<device_id>/cmd` to MQTT devices, handed over when an HTTP
device polls (DELIVERED). The device's answer (on `/cmdexe`, or POST /iot/json/commands)
makes it OK or ERROR; the sweep makes it EXPIRED past the deadline. Every change is an
event on the bus (`device.command`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection

from smartcity.core.context.jsonld import ActiveContext
from smartcity.core.context.service import Observation, record_observations
from smartcity.core.context.times import format_us, now_us
from smartcity.core.db import Database
from smartcity.core.events import Event, EventBus

from . import repository
from .devices import DeviceRegistry, device_entity_id
from .errors import BadIotRequest, DeviceNotFound, Unavailable
from .mapping import DeviceProfile, command_payload
from .pipeline import command_observations


class CommandLink(Protocol):
    """Where commands to MQTT devices are published (the MQTT southbound)."""

    def publish(self, topic: str, payload: bytes) -> None: ...


@dataclass
class CommandService:
    """Sends commands, hands them to polling devices, expires them, sweeps device health."""

    database: Database
    devices: DeviceRegistry
    ctx: ActiveContext
    events: EventBus
    timeout_s: float = 60.0
    health_mirror_s: float = 60.0
    link: CommandLink | None = None

    def send(
        self, device_id: str, name: str, value: Any, actor: str, may: Callable[[str], bool]
    ) -> dict[str, Any]:
        """Queue a command for a device and send it; the stored command."""
        profile = self._profile(device_id, may)
        if name not in profile.commands:
            raise BadIotRequest(f"device {device_id} has no command {name!r}")
        if profile.transport == "MQTT" and self.link is None:
            raise Unavailable("MQTT is not configured (SMARTCITY_MQTT_URL); cannot reach device")
        now = now_us()
        row = {
            "device_id": device_id,
            "name": name,
            "value": value,
            "status": "PENDING",
            "created_by": actor,
            "created_at": now,
            "updated_at": now,
            "expires_at": now + int(self.timeout_s * 1e6),
        }

        def job(conn: Connection) -> int:
            command_id = repository.insert_command(conn, row)
            self._show(conn, profile, name, "PENDING", None, now)
            return command_id

        row["id"] = self.database.run_write(job)
        if profile.transport == "MQTT" and self.link is not None:
            topic = f"/{profile.apikey}/{device_id}/cmd"
            self.link.publish(topic, command_payload(profile.protocol, device_id, name, value))
        self._event(profile.device_id, row["id"], name, "PENDING")
        return command_out(row)

    def history(self, device_id: str, may: Callable[[str], bool], limit: int = 50) -> list[Any]:
        """A device's latest commands, newest first."""
        self._profile(device_id, may)
        with self.database.read() as conn:
            return [command_out(row) for row in repository.list_commands(conn, device_id, limit)]

    def poll(self, profile: DeviceProfile) -> list[dict[str, Any]]:
        """Hand a polling (HTTP) device its pending commands; they become DELIVERED."""
        now = now_us()

        def job(conn: Connection) -> list[dict[str, Any]]:
            pending = repository.pending_commands(conn, profile.device_id)
            for command in pending:
                repository.set_command_status(conn, command["id"], "DELIVERED", now)
                self._show(conn, profile, command["name"], "DELIVERED", None, now)
            return pending

        pending = self.database.run_write(job)
        for command in pending:
            self._event(profile.device_id, command["id"], command["name"], "DELIVERED")
        return pending

    def expire(self) -> int:
        """Mark commands past their deadline EXPIRED; how many."""
        now = now_us()

        def job(conn: Connection) -> list[dict[str, Any]]:
            expired = repository.expired_commands(conn, now)
            for command in expired:
                repository.set_command_status(conn, command["id"], "EXPIRED", now)
                row = repository.get_device(conn, command["device_id"])
                if row is not None:
                    profile = _bare_profile(row)
                    self._show(conn, profile, command["name"], "EXPIRED", None, now)
            return expired

        expired = self.database.run_write(job)
        for command in expired:
            self._event(command["device_id"], command["id"], command["name"], "EXPIRED")
        return len(expired)

    def sweep_health(self) -> list[Event]:
        """Mark silent devices offline and mirror health onto Device entities; the events."""
        now = now_us()

        def job(conn: Connection) -> list[Event]:
            events = []
            for row in repository.devices_gone_silent(conn, now):
                repository.set_device_state(conn, row["device_id"], "offline", now)
                record_observations(conn, self._health(row, "offline", now), now)
                events.append(_health_event("device.offline", row))
            older = now - int(self.health_mirror_s * 1e6)
            for row in repository.devices_to_mirror(conn, older):
                repository.set_device_state(conn, row["device_id"], "online", now)
                record_observations(conn, self._health(row, "online", now), now)
                if row["state"] != "online":
                    events.append(_health_event("device.online", row))
            return events

        events = self.database.run_write(job)
        for event in events:
            self.events.publish(event)
        return events

    # --- helpers -------------------------------------------------------------------------

    def _profile(self, device_id: str, may: Callable[[str], bool]) -> DeviceProfile:
        with self.database.read() as conn:
            row = repository.get_device(conn, device_id)
        if row is None or not may(row["entity_type"]):
            raise DeviceNotFound(f"no device {device_id!r}")
        return self.devices.profile(row["apikey"], device_id)

    def _show(
        self, conn: Connection, profile: DeviceProfile, name: str, status: str, info: Any, at: int
    ) -> None:
        observations = command_observations(self.ctx, profile, name, status, info, at)
        record_observations(conn, observations, at)

    def _event(self, device_id: str, command_id: int, name: str, status: str) -> None:
        data = {"id": command_id, "name": name, "status": status}
        self.events.publish(Event("device.command", device_id, data))

    def _health(self, row: dict[str, Any], state: str, now: int) -> list[Observation]:
        """Device entity attributes: deviceState, dateLastValueReported, battery, RSSI."""
        values: list[tuple[str, Any, float | None]] = [("deviceState", state, None)]
        if row["last_seen_us"]:
            stamp = {"@type": "DateTime", "@value": format_us(row["last_seen_us"])}
            values.append(("dateLastValueReported", stamp, None))
        if row["battery"] is not None:
            values.append(("batteryLevel", row["battery"], row["battery"]))
        if row["rssi"] is not None:
            values.append(("rssi", row["rssi"], row["rssi"]))
        at = format_us(now)
        return [
            Observation(
                entity_id=device_entity_id(row["device_id"]),
                entity_type=self.ctx.expand("Device"),
                attr=self.ctx.expand(name),
                instance={"type": "Property", "value": value, "observedAt": at},
                observed_us=now,
                number=number,
            )
            for name, value, number in values
        ]


def _bare_profile(row: dict[str, Any]) -> DeviceProfile:
    """Enough of a profile to show a command's status on the device's entity."""
    return DeviceProfile(
        device_id=row["device_id"],
        apikey=row["apikey"],
        entity_id=row["entity_name"],
        entity_type=row["entity_type"],
        protocol=row["protocol"],
        transport=row["transport"],
    )


def _health_event(topic: str, row: dict[str, Any]) -> Event:
    return Event(
        topic,
        row["device_id"],
        {
            "entity": row["entity_name"],
            "device": device_entity_id(row["device_id"]),
            "lastSeen": format_us(row["last_seen_us"]) if row["last_seen_us"] else None,
            "expectedIntervalSeconds": row["expected_interval_s"],
        },
    )


def command_out(row: dict[str, Any]) -> dict[str, Any]:
    """A command as the API shows it."""
    return {
        "id": row["id"],
        "device_id": row["device_id"],
        "name": row["name"],
        "value": row["value"],
        "status": row["status"],
        "result": row.get("result"),
        "created_by": row["created_by"],
        "createdAt": format_us(row["created_at"]),
        "updatedAt": format_us(row["updated_at"]),
        "expiresAt": format_us(row["expires_at"]),
    }
