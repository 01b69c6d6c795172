"""How simulated devices reach the platform: the real ingestion API over HTTP.

Provisioning goes to `/iot/services` and `/iot/devices` with a platform API key (idempotent:
what exists is left alone); measures go to `/iot/json?k=<apikey>&i=<device>` exactly as a
device would send them, several timestamped measures per request when backfilling; actuators
fetch their pending commands with `getCmd=1` and report results on `/iot/json/commands`.
Any `httpx.Client` works, including FastAPI's TestClient (tests run the platform in-process).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from smartcity.simulator.fleet import Device, Fleet

#: Most devices in one `/iot/devices` request (the API takes up to 10,000).
PROVISION_CHUNK = 1000


class ProvisioningError(RuntimeError):
    """The platform refused to provision the fleet."""


@dataclass
class Delivery:
    """What the platform said to one measure request."""

    status: int
    commands: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class HttpTransport:
    """Sends a fleet's provisioning, measures and command results over HTTP."""

    def __init__(self, client: httpx.Client, api_key: str) -> None:
        self.client = client
        self.headers = {"X-API-Key": api_key}

    def provision(self, fleet: Fleet) -> tuple[int, int]:
        """Create the missing groups and devices; (groups created, devices created)."""
        existing = self._existing_apikeys()
        groups = [g.provisioning() for g in fleet.groups if g.apikey not in existing]
        if groups:
            self._post_json("/iot/services", {"services": groups})
        known = self._existing_device_ids()
        new = [d.provisioning() for d in fleet.devices if d.device_id not in known]
        for start in range(0, len(new), PROVISION_CHUNK):
            self._post_json("/iot/devices", {"devices": new[start : start + PROVISION_CHUNK]})
        return len(groups), len(new)

    def _existing_apikeys(self) -> set[str]:
        found: set[str] = set()
        for page in self._pages("/iot/services", "services"):
            found |= {g["apikey"] for g in page}
        return found

    def _existing_device_ids(self) -> set[str]:
        found: set[str] = set()
        for page in self._pages("/iot/devices", "devices"):
            found |= {d["device_id"] for d in page}
        return found

    def _pages(self, path: str, key: str) -> list[list[dict[str, Any]]]:
        pages: list[list[dict[str, Any]]] = []
        offset = 0
        while True:
            params = {"limit": 1000, "offset": offset}
            response = self.client.get(path, params=params, headers=self.headers)
            _check(response, path)
            page = response.json()[key]
            pages.append(page)
            offset += len(page)
            if not page or offset >= response.json()["count"]:
                return pages

    def _post_json(self, path: str, body: dict[str, Any]) -> None:
        headers = {**self.headers, "Content-Type": "application/json"}
        response = self.client.post(path, content=orjson.dumps(body), headers=headers)
        _check(response, path)

    def create_entities(self, entities: list[dict[str, Any]]) -> int:
        """Create reference entities (wards, roads) that do not exist yet; how many were new."""
        created = 0
        headers = {**self.headers, "Content-Type": "application/ld+json"}
        for start in range(0, len(entities), PROVISION_CHUNK):
            chunk = entities[start : start + PROVISION_CHUNK]
            path = "/ngsi-ld/v1/entityOperations/create"
            response = self.client.post(path, content=orjson.dumps(chunk), headers=headers)
            if response.status_code == 201:
                created += len(chunk)
            elif response.status_code == 207:
                created += len(response.json().get("success", []))
            else:
                _check(response, path)
        return created

    def send(self, device: Device, body: bytes, get_commands: bool = False) -> Delivery:
        """POST one payload (an object or an array of timestamped measures) for a device."""
        params: dict[str, Any] = {"k": device.group.apikey, "i": device.device_id}
        if get_commands:
            params["getCmd"] = 1
        response = self.client.post(
            "/iot/json", params=params, content=body, headers={"Content-Type": "application/json"}
        )
        if response.status_code >= 400:
            return Delivery(response.status_code, error=response.text[:300])
        commands = response.json() if get_commands and response.content else {}
        return Delivery(response.status_code, commands if isinstance(commands, dict) else {})

    def poll(self, device: Device) -> dict[str, Any]:
        """Fetch the device's pending commands without sending a measure."""
        params = {"k": device.group.apikey, "i": device.device_id}
        response = self.client.get("/iot/json", params=params)
        if response.status_code >= 400 or not response.content:
            return {}
        commands = response.json()
        return commands if isinstance(commands, dict) else {}

    def acknowledge(self, device: Device, results: dict[str, Any]) -> None:
        """Report command results (`{"dim": "OK 50 %"}`) as the device."""
        params = {"k": device.group.apikey, "i": device.device_id}
        response = self.client.post(
            "/iot/json/commands",
            params=params,
            content=orjson.dumps(results),
            headers={"Content-Type": "application/json"},
        )
        _check(response, "/iot/json/commands")


def _check(response: httpx.Response, path: str) -> None:
    if response.status_code >= 400:
        raise ProvisioningError(f"{path}: HTTP {response.status_code} {response.text[:500]}")
