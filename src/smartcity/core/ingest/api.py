"""HTTP routes of ingestion: IoT Agent provisioning, HTTP southbound, commands, dead letters.

Provisioning (`/iot/services`, `/iot/devices`) and the southbound (`/iot/json`, `/iot/d`)
have the FIWARE IoT Agent's paths, payloads and error bodies, so existing scripts, devices
and gateways work unchanged; commands and dead letters live under `/api`.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from smartcity.core.auth.deps import Permission
from smartcity.core.auth.policy import Action, Principal, Resource
from smartcity.core.context.access import context_access
from smartcity.core.context.times import format_us, now_us

from . import repository
from .commands import CommandService
from .devices import DeviceRegistry
from .errors import (
    BadIotRequest,
    DeviceNotFound,
    GroupNotFound,
    IotError,
    MeasureRejected,
    NotFound,
    Unavailable,
)
from .mapping import (
    JSON_PROTOCOL,
    UL_PROTOCOL,
    Rejected,
    UnknownDevice,
    UnknownGroup,
    command_payload,
)
from .pipeline import Inbound, Ingestor, QueueFull, Receipt
from .schemas import CommandRequest, DeviceIn, DevicePatch, DevicesIn, GroupPatch, GroupsIn


@dataclass
class IngestState:
    """What the ingestion routes need, kept on app.state.ingest."""

    devices: DeviceRegistry
    ingestor: Ingestor
    commands: CommandService
    metrics_registry: CollectorRegistry


def ingest_state(request: Request) -> IngestState:
    """The ingestion state of this app."""
    state: IngestState = request.app.state.ingest
    return state


State = Annotated[IngestState, Depends(ingest_state)]
ReadDevices = Annotated[Principal, Depends(Permission(Action.READ, Resource.DEVICES))]
WriteDevices = Annotated[Principal, Depends(Permission(Action.WRITE, Resource.DEVICES))]
Telemetry = Depends(Permission(Action.WRITE, Resource.TELEMETRY))
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]

router = APIRouter(tags=["iot"])
#: Where HTTP devices post command results (also the dead letters' topic for them).
COMMANDS_PATH = "/iot/json/commands"


def type_check(request: Request) -> Callable[[str], bool]:
    """Whether this caller may provision or command devices of an entity type."""
    access = context_access(request)
    return lambda entity_type: access.may_write([entity_type])


def iot_error_response(error: IotError) -> Response:
    """An IoT Agent error body."""
    return JSONResponse(error.body(), status_code=error.status)


# --- provisioning: service groups --------------------------------------------------------


@router.post("/iot/services", status_code=201)
async def create_services(request: Request, state: State, principal: WriteDevices) -> Response:
    """Create service groups (IoT Agent `{"services": [...]}`)."""
    body = _model(GroupsIn, await request.body())
    may = type_check(request)
    await run_in_threadpool(state.devices.create_groups, body.services, principal.actor, may)
    return Response(status_code=201)


def scope_types(state: IngestState, principal: Principal) -> list[str] | None:
    """The entity types a narrowed caller (scoped key, officer) sees: as given and expanded."""
    scope = principal.entity_types
    if scope is None:
        return None
    return sorted({*scope, *(state.devices.ctx.expand(t) for t in scope)})


@router.get("/iot/services")
async def list_services(
    state: State, principal: ReadDevices, limit: Limit = 20, offset: Offset = 0
) -> dict[str, Any]:
    """Service groups, `{"count", "services"}`."""
    types = scope_types(state, principal)
    total, groups = await run_in_threadpool(state.devices.list_groups, limit, offset, types)
    return {"count": total, "services": groups}


@router.put("/iot/services", status_code=204)
async def update_service(
    request: Request, state: State, _p: WriteDevices, apikey: str, resource: str | None = None
) -> Response:
    """Change a service group's defaults (`?apikey=&resource=`)."""
    patch = _model(GroupPatch, await request.body())
    await run_in_threadpool(state.devices.update_group, apikey, patch, type_check(request))
    return Response(status_code=204)


@router.delete("/iot/services", status_code=204)
async def delete_service(
    request: Request, state: State, _p: WriteDevices, apikey: str, resource: str | None = None
) -> Response:
    """Delete a service group without devices (`?apikey=&resource=`)."""
    await run_in_threadpool(state.devices.delete_group, apikey, type_check(request))
    return Response(status_code=204)


# --- provisioning: devices ---------------------------------------------------------------


@router.post("/iot/devices", status_code=201)
async def create_devices(request: Request, state: State, principal: WriteDevices) -> Response:
    """Provision devices and their entities: IoT Agent JSON, or CSV (`text/csv`)."""
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("text/csv"):
        devices = devices_from_csv(raw)
    else:
        devices = _model(DevicesIn, raw).devices
    may = type_check(request)
    await run_in_threadpool(state.devices.create_devices, devices, principal.actor, may)
    return Response(status_code=201)


@router.get("/iot/devices")
async def list_devices(
    request: Request, state: State, principal: ReadDevices, limit: Limit = 20, offset: Offset = 0
) -> dict[str, Any]:
    """Devices with their health, `{"count", "devices"}`."""
    types = scope_types(state, principal)
    total, devices = await run_in_threadpool(state.devices.list_devices, limit, offset, types)
    return {"count": total, "devices": devices}


@router.get("/iot/devices/{device_id}")
async def get_device(
    request: Request, device_id: str, state: State, _p: ReadDevices
) -> dict[str, Any]:
    """One device with its health."""
    may = type_check(request)
    return await run_in_threadpool(state.devices.get_device, device_id, may)


@router.put("/iot/devices/{device_id}", status_code=204)
async def update_device(
    request: Request, device_id: str, state: State, _p: WriteDevices
) -> Response:
    """Change a device's mapping, commands, interval, location or transport."""
    patch = _model(DevicePatch, await request.body())
    await run_in_threadpool(state.devices.update_device, device_id, patch, type_check(request))
    return Response(status_code=204)


@router.delete("/iot/devices/{device_id}", status_code=204)
async def delete_device(
    request: Request, device_id: str, state: State, _p: WriteDevices
) -> Response:
    """Remove a device (its entity and history stay)."""
    await run_in_threadpool(state.devices.delete_device, device_id, type_check(request))
    return Response(status_code=204)


# --- HTTP southbound ---------------------------------------------------------------------


@router.post("/iot/json", dependencies=[Telemetry])
async def http_json_measures(
    request: Request,
    state: State,
    k: str | None = None,
    i: str | None = None,
    getCmd: int = 0,
) -> Response:
    """Measures in IoT Agent JSON: one object, or an array with per-measure TimeInstant."""
    body = await request.body()
    inbound = Inbound("http", k, i, body, topic="/iot/json", protocol=JSON_PROTOCOL)
    await _ingest(state, inbound)
    return await _maybe_commands(state, k, i, getCmd, JSON_PROTOCOL)


@router.post("/iot/d", dependencies=[Telemetry])
async def http_ul_measures(
    request: Request,
    state: State,
    k: str | None = None,
    i: str | None = None,
    getCmd: int = 0,
) -> Response:
    """Measures in UltraLight 2.0 (`t|25.3|h|61`, groups separated by `#`)."""
    inbound = Inbound("http", k, i, await request.body(), topic="/iot/d", protocol=UL_PROTOCOL)
    await _ingest(state, inbound)
    return await _maybe_commands(state, k, i, getCmd, UL_PROTOCOL)


@router.get("/iot/json", dependencies=[Telemetry])
async def http_json_poll(state: State, k: str | None = None, i: str | None = None) -> Response:
    """A polling device fetches its pending commands: `{"name": value, …}`."""
    return await _maybe_commands(state, k, i, 1, JSON_PROTOCOL)


@router.get("/iot/d", dependencies=[Telemetry])
async def http_ul_poll(state: State, k: str | None = None, i: str | None = None) -> Response:
    """A polling UltraLight device fetches its pending commands, one `dev@cmd|value` a line."""
    return await _maybe_commands(state, k, i, 1, UL_PROTOCOL)


@router.post(COMMANDS_PATH, dependencies=[Telemetry])
async def http_command_result(
    request: Request, state: State, k: str | None = None, i: str | None = None
) -> Response:
    """A device reports command results: `{"name": result}`."""
    inbound = Inbound(
        "http",
        k,
        i,
        await request.body(),
        kind="cmdexe",
        topic=COMMANDS_PATH,
        protocol=JSON_PROTOCOL,
    )
    await _ingest(state, inbound)
    return Response(status_code=200)


async def _ingest(state: IngestState, inbound: Inbound) -> Receipt:
    """Store one HTTP message; errors in the IoT Agent's shape (the payload is kept)."""
    try:
        future = state.ingestor.submit(inbound, block=False)
    except QueueFull as error:
        raise Unavailable(str(error)) from None
    receipt = await asyncio.wrap_future(future)
    if receipt.dead_letter is not None:
        raise _refusal(receipt.rejection or Rejected(receipt.dead_letter))
    return receipt


def _refusal(rejection: Rejected, kept: bool = True) -> IotError:
    """The IoT Agent error for a refused message (kept: it is stored as a dead letter)."""
    shown = rejection.reason + (" (kept as a dead letter)" if kept else "")
    if isinstance(rejection, UnknownGroup):
        return GroupNotFound(shown)
    if isinstance(rejection, UnknownDevice):
        return DeviceNotFound(shown)
    return MeasureRejected(shown)


async def _maybe_commands(
    state: IngestState, k: str | None, i: str | None, wanted: int, protocol: str
) -> Response:
    if not wanted:
        return Response(status_code=200)
    try:
        profile = state.devices.profile(k, i)
    except Rejected as error:
        raise _refusal(error, kept=False) from None
    pending = await run_in_threadpool(state.commands.poll, profile)
    if protocol == UL_PROTOCOL:
        lines = [
            command_payload(protocol, profile.device_id, c["name"], c["value"]) for c in pending
        ]
        return Response(b"\n".join(lines), media_type="text/plain")
    return JSONResponse({c["name"]: c["value"] for c in pending})


# --- commands ----------------------------------------------------------------------------


@router.post("/api/devices/{device_id}/commands", status_code=202)
async def send_command(
    request: Request,
    device_id: str,
    state: State,
    principal: Annotated[Principal, Depends(Permission(Action.WRITE, Resource.CONTEXT))],
) -> dict[str, Any]:
    """Send a command; it is PENDING until the device answers (OK, ERROR) or it EXPIRES."""
    body = _model(CommandRequest, await request.body())
    return await run_in_threadpool(
        state.commands.send,
        device_id,
        body.name,
        body.value,
        principal.actor,
        type_check(request),
    )


@router.get("/api/devices/{device_id}/commands")
async def list_commands(
    request: Request, device_id: str, state: State, _p: ReadDevices
) -> list[dict[str, Any]]:
    """A device's latest commands with their status, newest first."""
    return await run_in_threadpool(state.commands.history, device_id, type_check(request))


# --- dead letters ------------------------------------------------------------------------


@router.get("/api/ingest/dead-letters")
async def list_dead_letters(
    state: State,
    principal: ReadDevices,
    limit: Limit = 50,
    offset: Offset = 0,
    device_id: str | None = None,
) -> dict[str, Any]:
    """Refused device messages, newest first, with the reason and the raw payload."""

    types = scope_types(state, principal)

    def read() -> tuple[int, list[dict[str, Any]]]:
        with state.devices.database.read() as conn:
            return repository.list_dead_letters(conn, limit, offset, device_id, types)

    total, rows = await run_in_threadpool(read)
    return {"count": total, "deadLetters": [dead_letter_out(row) for row in rows]}


@router.get("/api/ingest/dead-letters/{letter_id}")
async def get_dead_letter(letter_id: int, state: State, _p: ReadDevices) -> dict[str, Any]:
    """One dead letter."""
    return dead_letter_out(await run_in_threadpool(_dead_letter, state, letter_id))


@router.post("/api/ingest/dead-letters/{letter_id}/replay")
async def replay_dead_letter(letter_id: int, state: State, _p: WriteDevices) -> dict[str, Any]:
    """Run a dead letter through ingestion again (after fixing the device's provisioning)."""
    row = await run_in_threadpool(_dead_letter, state, letter_id)
    state.devices.forget()
    inbound = Inbound(
        row["transport"],
        row["apikey"],
        row["device_id"],
        row["payload"],
        topic=row["topic"],
        protocol=row["protocol"] if row["protocol"] != "?" else None,
        kind="cmdexe" if (row["topic"] or "").endswith(("/cmdexe", COMMANDS_PATH)) else "attrs",
        received_us=row["received_at"],
        replay=True,
    )
    try:
        receipt = await asyncio.wrap_future(state.ingestor.submit(inbound, block=False))
    except QueueFull as error:
        raise Unavailable(str(error)) from None
    outcome = "stored" if receipt.dead_letter is None else f"refused again: {receipt.dead_letter}"
    await run_in_threadpool(_mark_replayed, state, letter_id, outcome)
    return {
        "id": letter_id,
        "outcome": outcome,
        "stored": receipt.stored,
        "duplicates": receipt.duplicates,
    }


def _dead_letter(state: IngestState, letter_id: int) -> dict[str, Any]:
    with state.devices.database.read() as conn:
        row = repository.get_dead_letter(conn, letter_id)
    if row is None:
        raise NotFound(f"no dead letter {letter_id}")
    return row


def _mark_replayed(state: IngestState, letter_id: int, outcome: str) -> None:
    state.devices.database.run_write(
        lambda conn: repository.mark_replayed(conn, letter_id, now_us(), outcome)
    )


def dead_letter_out(row: dict[str, Any]) -> dict[str, Any]:
    """A dead letter as the API shows it: text payloads as text, others in base64."""
    payload: bytes = row["payload"]
    try:
        shown: dict[str, str] = {"payload": payload.decode("utf-8")}
    except UnicodeDecodeError:
        shown = {"payloadBase64": base64.b64encode(payload).decode()}
    return {
        "id": row["id"],
        "receivedAt": format_us(row["received_at"]),
        "transport": row["transport"],
        "topic": row["topic"],
        "apikey": row["apikey"],
        "device_id": row["device_id"],
        "protocol": row["protocol"],
        "reason": row["reason"],
        **shown,
        "replayedAt": format_us(row["replayed_at"]) if row["replayed_at"] else None,
        "replayOutcome": row["replay_outcome"],
    }


# --- metrics -----------------------------------------------------------------------------


@router.get(
    "/metrics",
    dependencies=[Depends(Permission(Action.READ, Resource.METRICS))],
    tags=["platform"],
)
async def metrics(state: State) -> Response:
    """Prometheus metrics of this process (ingestion counters, queue depth, batch times)."""
    return Response(generate_latest(state.metrics_registry), media_type=CONTENT_TYPE_LATEST)


# --- helpers -----------------------------------------------------------------------------


def _model(model: Any, raw: bytes) -> Any:
    """Parse a JSON body into a pydantic model; IoT Agent error body on failure."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors()
        )
        raise BadIotRequest(problems) from None


CSV_COLUMNS = (
    "device_id",
    "apikey",
    "entity_name",
    "entity_type",
    "protocol",
    "transport",
    "attributes",
    "commands",
    "latitude",
    "longitude",
    "expected_interval_s",
)


def devices_from_csv(raw: bytes) -> list[DeviceIn]:
    """Devices from CSV: attributes as `object_id:name:type[:unit];…`, commands as `a;b`."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadIotRequest("CSV must be UTF-8") from None
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "device_id" not in reader.fieldnames:
        raise BadIotRequest(f"CSV needs a header row with device_id; columns: {CSV_COLUMNS}")
    devices = []
    for line, row in enumerate(reader, start=2):
        try:
            devices.append(DeviceIn.model_validate(_csv_device(row)))
        except (ValidationError, ValueError) as error:
            raise BadIotRequest(f"CSV line {line}: {error}") from None
    if not devices:
        raise BadIotRequest("the CSV has no devices")
    return devices


def _csv_device(row: dict[str, str | None]) -> dict[str, Any]:
    cell = {key: (value or "").strip() for key, value in row.items() if key}
    device: dict[str, Any] = {
        key: cell[key]
        for key in ("device_id", "apikey", "entity_name", "entity_type", "protocol", "transport")
        if cell.get(key)
    }
    device["attributes"] = [_csv_attribute(spec) for spec in _split(cell.get("attributes"))]
    device["commands"] = [{"name": name} for name in _split(cell.get("commands"))]
    if cell.get("latitude") and cell.get("longitude"):
        lon, lat = float(cell["longitude"]), float(cell["latitude"])
        device["location"] = {"type": "Point", "coordinates": [lon, lat]}
    if cell.get("expected_interval_s"):
        device["expected_interval_s"] = int(cell["expected_interval_s"])
    return device


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(";") if part.strip()]


def _csv_attribute(spec: str) -> dict[str, Any]:
    parts = spec.split(":")
    if len(parts) < 2:
        raise ValueError(f"attribute {spec!r} must be object_id:name[:type[:unitCode]]")
    attribute: dict[str, Any] = {"object_id": parts[0], "name": parts[1]}
    if len(parts) > 2 and parts[2]:
        attribute["type"] = parts[2]
    if len(parts) > 3 and parts[3]:
        attribute["unitCode"] = parts[3]
    return attribute


def install_error_handler(app: FastAPI) -> None:
    """Answer IotError in the IoT Agent's shape."""

    @app.exception_handler(IotError)
    async def _iot_error(_request: Request, exc: IotError) -> Response:
        return iot_error_response(exc)
