"""NGSI-LD temporal API at /ngsi-ld/v1/temporal: history of every attribute."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from . import model
from .access import audit_personal, context_access
from .api import (
    CONTEXT_READ,
    CONTEXT_WRITE,
    BrokerState,
    State,
    call,
    entity_query_from_params,
    guard_ids,
    require_object,
    single_tenant,
    strip_context,
)
from .errors import BadRequestData
from .jsonld import ActiveContext
from .params import csv_param, ngsi_response, options, read_body, request_context, resolve_context
from .service import EntityQuery
from .temporal import TemporalQuery, parse_temporal_params
from .times import now_us

router = APIRouter(
    prefix="/ngsi-ld/v1/temporal",
    tags=["NGSI-LD temporal"],
    dependencies=[Depends(single_tenant)],
)


def _temporal_query(request: Request, attrs: list[str]) -> TemporalQuery:
    params = request.query_params
    query = parse_temporal_params(
        params.get("timerel"),
        params.get("timeAt"),
        params.get("endTimeAt"),
        params.get("lastN"),
        params.get("aggrMethods"),
        params.get("aggrPeriodDuration"),
        options(request),
    )
    query.attrs = attrs
    return query


@router.get("/entities/{entity_id:path}", dependencies=[CONTEXT_READ])
async def temporal_entity(entity_id: str, request: Request, state: State) -> Response:
    """The history of one entity."""
    model.check_entity_id(entity_id)
    ctx = await request_context(request, state.resolver)
    attrs = sorted(model.select_attrs(csv_param(request, "attrs"), ctx))
    query = _temporal_query(request, attrs)
    sys_attrs = "sysAttrs" in options(request)
    content = await call(state.temporal.entity, entity_id, query, ctx, sys_attrs)
    access = context_access(request)
    access.check_read([content["type"]])
    audit_personal(request, access, [(entity_id, [content["type"]])])
    return ngsi_response(request, content, ctx)


@router.get("/entities", dependencies=[CONTEXT_READ])
async def temporal_query(request: Request, state: State) -> Response:
    """Histories of the entities matching type/id/idPattern (q and geo on current state)."""
    ctx = await request_context(request, state.resolver)
    entity_query = entity_query_from_params(request, ctx, state)
    if not (entity_query.types or entity_query.ids or entity_query.id_pattern):
        raise BadRequestData("a temporal query needs type, id or idPattern")
    query = _temporal_query(request, list(entity_query.attrs))
    restrict = await _current_state_filter(entity_query, ctx, state)
    content = await call(
        state.temporal.query,
        entity_query.types,
        entity_query.ids,
        entity_query.id_pattern,
        query,
        ctx,
        entity_query.limit,
        entity_query.offset,
        restrict,
        hidden_type_names=entity_query.hidden_type_names,
    )
    found = ((item["id"], [item["type"]]) for item in content)
    audit_personal(request, context_access(request), found)
    return ngsi_response(request, content, ctx)


async def _current_state_filter(
    entity_query: EntityQuery, ctx: ActiveContext, state: BrokerState
) -> set[str] | None:
    """With q or a geo-query, only entities whose current state matches are returned."""
    if entity_query.q is None and entity_query.geo is None:
        return None
    everything = replace(entity_query, limit=state.max_limit, offset=0)
    records, _ = await call(state.broker.query, everything, ctx.expand)
    return {record.id for record in records}


@router.post("/entities", dependencies=[CONTEXT_WRITE])
async def temporal_create(request: Request, state: State) -> Response:
    """Create or add to the history of an entity."""
    body = await read_body(request, state.max_body_bytes)
    ctx = await resolve_context(state.resolver, body.context_spec)
    data = strip_context(require_object(body.data))
    entity = model.parse_entity(data, ctx, now_us(), temporal=True)
    await guard_ids(request, state, [entity.id], entity.types)
    created = await state.temporal.create_or_append.run_async(entity.id, entity.types, entity.attrs)
    headers = {"Location": f"/ngsi-ld/v1/temporal/entities/{entity.id}"}
    return Response(status_code=201 if created else 204, headers=headers if created else None)


@router.post("/entities/{entity_id:path}/attrs", status_code=204, dependencies=[CONTEXT_WRITE])
async def temporal_append(entity_id: str, request: Request, state: State) -> Response:
    """Add attribute instances to an entity's history."""
    model.check_entity_id(entity_id)
    body = await read_body(request, state.max_body_bytes)
    ctx = await resolve_context(state.resolver, body.context_spec)
    data = strip_context(require_object(body.data))
    attrs = model.parse_fragment(data, ctx, now_us(), allow_null=False, temporal=True)
    await guard_ids(request, state, [entity_id])
    await state.temporal.append_attrs.run_async(entity_id, attrs)
    return Response(status_code=204)


@router.delete("/entities/{entity_id:path}", status_code=204, dependencies=[CONTEXT_WRITE])
async def temporal_delete(entity_id: str, request: Request, state: State) -> Response:
    """Delete an entity's history."""
    model.check_entity_id(entity_id)
    await guard_ids(request, state, [entity_id])
    await state.temporal.delete.run_async(entity_id)
    return Response(status_code=204)


__all__ = ["ngsi_response", "router"]
