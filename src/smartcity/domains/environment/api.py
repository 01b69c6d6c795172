"""The environment domain's routes under /api/environment: salinity, tides, gates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from smartcity.core.auth.deps import Permission
from smartcity.core.auth.policy import Action, Principal, Resource
from smartcity.core.context.errors import BadRequestData, Conflict, ResourceNotFound

from .gates import GateConflict, GateError, GateNotFound
from .service import EnvironmentRuntime

router = APIRouter(tags=["environment"])
T = TypeVar("T")

ContextReader = Annotated[Principal, Depends(Permission(Action.READ, Resource.CONTEXT))]
ControlReader = Annotated[Principal, Depends(Permission(Action.READ, Resource.CONTROL))]
ControlWriter = Annotated[Principal, Depends(Permission(Action.WRITE, Resource.CONTROL))]


def runtime(request: Request) -> EnvironmentRuntime:
    """The environment domain's services of this process."""
    service: EnvironmentRuntime = request.app.state.domains["environment"].service
    return service


Services = Annotated[EnvironmentRuntime, Depends(runtime)]


class ModeChange(BaseModel):
    """Manual (operator override) or automatic control, and why."""

    mode: Literal["manual", "auto"]
    reason: str = Field(min_length=1, max_length=500)


class GateCommand(BaseModel):
    """An operator's command to a gate in manual mode, and why."""

    command: Literal["open", "close"]
    reason: str = Field(min_length=1, max_length=500)


@router.get("/salinity")
def salinity_now(services: Services, _caller: ContextReader) -> dict[str, Any]:
    """Salinity stations, the reach of the 4‰ line and advisories by water use."""
    return services.salinity_report()


@router.get("/tides")
def tides_now(services: Services, _caller: ContextReader) -> dict[str, Any]:
    """Level at Cần Thơ station, alarm levels, forecast high tides and flood-prone streets."""
    return services.tide_report()


@router.get("/gates")
def list_gates(services: Services, _caller: ControlReader) -> list[dict[str, Any]]:
    """Every controlled gate: position, mode, pending command, recent actions."""
    return services.gates.gates()


@router.get("/gates/{gate_id}/actions")
def gate_actions(gate_id: str, services: Services, _caller: ControlReader) -> list[Any]:
    """A gate's action log with reasons, newest first."""
    return _call(lambda: services.gates.actions(gate_id))


@router.post("/gates/{gate_id}/mode")
def set_gate_mode(
    gate_id: str, body: ModeChange, services: Services, caller: ControlWriter
) -> dict[str, Any]:
    """Switch a gate to manual control (override) or back to automatic."""
    return _call(lambda: services.gates.set_mode(gate_id, body.mode, body.reason, caller.actor))


@router.post("/gates/{gate_id}/command")
def command_gate(
    gate_id: str, body: GateCommand, services: Services, caller: ControlWriter
) -> dict[str, Any]:
    """Open or close a gate that is in manual mode."""
    return _call(lambda: services.gates.command(gate_id, body.command, body.reason, caller.actor))


def _call(work: Callable[[], T]) -> T:
    """Gate errors in the platform's problem format (404 unknown, 409 wrong mode)."""
    try:
        return work()
    except GateNotFound as error:
        raise ResourceNotFound(str(error)) from error
    except GateConflict as error:
        raise Conflict(str(error)) from error
    except GateError as error:
        raise BadRequestData(str(error)) from error
