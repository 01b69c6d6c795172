"""NGSI-LD subscriptions at /ngsi-ld/v1/subscriptions: thin routes over SubscriptionService.

Anyone who may write context may subscribe; each caller sees and changes only their own
subscriptions (admins all). Notifications never carry entities of personal types the
subscriber may not read (fixed when the subscription is created).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from smartcity.core.auth.deps import Permission
from smartcity.core.auth.policy import Action, Principal, Resource, Role

from .access import context_access
from .api import State, single_tenant
from .errors import BadRequestData
from .params import read_body, resolve_context
from .subscriptions import SubscriptionService, subscription_out, validate

router = APIRouter(
    prefix="/ngsi-ld/v1", tags=["NGSI-LD subscriptions"], dependencies=[Depends(single_tenant)]
)
Reader = Annotated[Principal, Depends(Permission(Action.READ, Resource.CONTEXT))]
Writer = Annotated[Principal, Depends(Permission(Action.WRITE, Resource.CONTEXT))]


def subscription_service(request: Request) -> SubscriptionService:
    """The subscriptions of this app."""
    service: SubscriptionService = request.app.state.subscriptions
    return service


Service = Annotated[SubscriptionService, Depends(subscription_service)]


def _owner(principal: Principal) -> str | None:
    """Whose subscriptions the caller handles: their own; None (all) for admins."""
    return None if principal.role is Role.ADMIN else principal.actor


@router.post("/subscriptions", status_code=201)
async def create_subscription(
    request: Request, state: State, service: Service, principal: Writer
) -> Response:
    """Create a subscription; 201 with its Location."""
    body = await read_body(request, state.max_body_bytes)
    ctx = await resolve_context(state.resolver, body.context_spec)
    checked = validate(body.data, ctx, creating=True)
    hidden = context_access(request).hidden_type_names()
    sub_id = await run_in_threadpool(
        service.create, checked, body.context_spec, principal.actor, hidden
    )
    return Response(status_code=201, headers={"Location": f"/ngsi-ld/v1/subscriptions/{sub_id}"})


@router.get("/subscriptions")
async def list_subscriptions(
    service: Service,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """The caller's subscriptions with their status."""
    rows = await run_in_threadpool(service.page, _owner(principal), limit, offset)
    return JSONResponse([subscription_out(row) for row in rows])


@router.get("/subscriptions/{subscription_id}")
async def get_subscription(
    subscription_id: str, service: Service, principal: Reader
) -> dict[str, Any]:
    """One subscription with its status (timesSent, lastSuccess, lastFailure …)."""
    row = await run_in_threadpool(service.get, subscription_id, _owner(principal))
    return subscription_out(row)


@router.patch("/subscriptions/{subscription_id}", status_code=204)
async def update_subscription(
    subscription_id: str, request: Request, state: State, service: Service, principal: Writer
) -> Response:
    """Change members of a subscription (isActive, expiresAt, q, notification …)."""
    body = await read_body(request, state.max_body_bytes, patch=True)
    ctx = await resolve_context(state.resolver, body.context_spec)
    fragment = validate(body.data, ctx, creating=False)
    if "id" in fragment and fragment["id"] != subscription_id:
        raise BadRequestData("the id of a subscription cannot change")
    await run_in_threadpool(service.update, subscription_id, fragment, _owner(principal))
    return Response(status_code=204)


@router.delete("/subscriptions/{subscription_id}", status_code=204)
async def delete_subscription(
    subscription_id: str, service: Service, principal: Writer
) -> Response:
    """Delete a subscription (its undelivered notifications go with it)."""
    await run_in_threadpool(service.delete, subscription_id, _owner(principal))
    return Response(status_code=204)
