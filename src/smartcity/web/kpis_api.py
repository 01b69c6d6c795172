"""`GET /api/kpis`: the city's indicators now, 24 hours ago, and the trend."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from smartcity.core.auth.deps import Permission
from smartcity.core.auth.policy import Action, Resource
from smartcity.core.kpis import KpiService

router = APIRouter(prefix="/api", tags=["map"])
ReadContext = Depends(Permission(Action.READ, Resource.CONTEXT))


@router.get("/kpis", dependencies=[ReadContext])
async def list_kpis(request: Request) -> dict[str, Any]:
    """Every domain's indicators with yesterday's value and the trend (up/down/flat)."""
    service: KpiService = request.app.state.kpis
    values = await run_in_threadpool(service.with_yesterday)
    return {"kpis": [value.as_json() for value in values]}
