"""NGSI-LD API at /ngsi-ld/v1 (ETSI GS CIM 009 v1.8): thin routes over the broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from smartcity.core.auth.deps import Permission
from smartcity.core.auth.policy import Action, Resource

from . import geo, model, qlang
from .access import audit_personal, context_access
from .errors import (
    BadRequestData,
    NgsiLdError,
    NoMultiTenantSupport,
    OperationNotSupported,
    ResourceNotFound,
)
from .jsonld import ActiveContext, ContextResolver
from .params import (
    GEOJSON,
    Body,
    bool_param,
    csv_param,
    entity_context,
    ngsi_response,
    options,
    parse_geo,
    parse_limit,
    parse_q,
    read_body,
    render_options,
    request_context,
    resolve_context,
    response_media,
    to_feature,
    to_geojson,
)
from .repository import EntityRecord, Selector
from .service import WRITE_GUARD, BatchResult, ContextBroker, EntityQuery, UpdateResult
from .temporal import TemporalService
from .times import now_us


async def single_tenant(request: Request) -> None:
    """Refuse NGSILD-Tenant: this broker keeps one tenant (the city)."""
    if request.headers.get("ngsild-tenant"):
        raise NoMultiTenantSupport("this broker has a single tenant; drop NGSILD-Tenant")


CONTEXT_READ = Depends(Permission(Action.READ, Resource.CONTEXT))
CONTEXT_WRITE = Depends(Permission(Action.WRITE, Resource.CONTEXT))
router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD"], dependencies=[Depends(single_tenant)])
T = TypeVar("T")


class BrokerState:
    """What the routes need, kept on app.state.ngsi."""

    def __init__(
        self,
        broker: ContextBroker,
        resolver: ContextResolver,
        temporal: TemporalService,
        max_body_bytes: int,
        default_limit: int,
        max_limit: int,
    ) -> None:
        self.broker = broker
        self.resolver = resolver
        self.temporal = temporal
        self.max_body_bytes = max_body_bytes
        self.default_limit = default_limit
        self.max_limit = max_limit


async def get_state(request: Request) -> BrokerState:
    """The broker state of this app."""
    state: BrokerState = request.app.state.ngsi
    return state


State = Annotated[BrokerState, Depends(get_state)]


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking database work off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


def _location(entity_id: str) -> dict[str, str]:
    return {"Location": f"/ngsi-ld/v1/entities/{entity_id}"}


def render(record: EntityRecord, ctx: ActiveContext, opts: model.RenderOptions) -> dict[str, Any]:
    """A stored entity in the requested representation."""
    return model.render_entity(
        record.id,
        record.types,
        record.attrs,
        ctx,
        opts,
        created_at=record.created_at,
        modified_at=record.modified_at,
    )


# --- access ------------------------------------------------------------------------------


async def guard_ids(
    request: Request, state: BrokerState, entity_ids: Sequence[str], new_types: Sequence[str] = ()
) -> None:
    """403 unless the caller may write these entities (their stored and any new types)."""
    access = context_access(request)
    if new_types:
        access.check_write(new_types)
    if access.needs_type_lookup:
        for types in (await call(state.broker.types_of, list(entity_ids))).values():
            access.check_write(types)


def guard_in_job(request: Request) -> None:
    """Check the caller's rights on the entity inside the coming read-modify-write job."""
    access = context_access(request)
    if access.needs_type_lookup:
        WRITE_GUARD.set(access.check_write)


async def guard_batch(
    request: Request, state: BrokerState, items: Sequence[model.EntityInput | NgsiLdError]
) -> None:
    """403 for the whole batch when any entity in it is outside the caller's rights."""
    entities = [item for item in items if isinstance(item, model.EntityInput)]
    access = context_access(request)
    for entity in entities:
        if entity.types:
            access.check_write(entity.types)
    await guard_ids(request, state, [entity.id for entity in entities])


# --- entities ------------------------------------------------------------------------------


@router.post("/entities", status_code=201, dependencies=[CONTEXT_WRITE])
async def create_entity(request: Request, state: State) -> Response:
    """Create an entity."""
    body = await read_body(request, state.max_body_bytes)
    ctx = await resolve_context(state.resolver, body.context_spec)
    entity = model.parse_entity(body.data, ctx, now_us())
    context_access(request).check_write(entity.types)
    await state.broker.create.run_async(entity)
    return Response(status_code=201, headers=_location(entity.id))


@router.get("/entities", dependencies=[CONTEXT_READ])
async def query_entities(request: Request, state: State) -> Response:
    """Query entities by type, id, attributes, q and geo-query."""
    ctx = await request_context(request, state.resolver)
    query = entity_query_from_params(request, ctx, state)
    opts = render_options(request, ctx)
    records, total = await call(state.broker.query, query, ctx.expand)
    return _entity_list(request, ctx, opts, records, total)


def entity_query_from_params(
    request: Request, ctx: ActiveContext, state: BrokerState
) -> EntityQuery:
    limit, offset = parse_limit(request, state.default_limit, state.max_limit)
    ids = csv_param(request, "id")
    for entity_id in ids:
        model.check_entity_id(entity_id)
    return EntityQuery(
        types=[ctx.expand(model.check_name(t, "entity type")) for t in csv_param(request, "type")],
        ids=ids,
        id_pattern=_id_pattern(request.query_params.get("idPattern")),
        attrs=sorted(model.select_attrs(csv_param(request, "attrs"), ctx)),
        q=parse_q(request),
        geo=parse_geo(request, ctx),
        limit=limit,
        offset=offset,
        count=bool_param(request, "count"),
        hidden_type_names=context_access(request).hidden_type_names(),
    )


def _id_pattern(pattern: str | None) -> str | None:
    if pattern is None:
        return None
    return qlang.check_regex(pattern, "idPattern")


def _entity_list(
    request: Request,
    ctx: ActiveContext,
    opts: model.RenderOptions,
    records: list[EntityRecord],
    total: int | None,
) -> Response:
    headers = {"NGSILD-Results-Count": str(total)} if total is not None else {}
    access = context_access(request)
    audit_personal(request, access, ((record.id, record.types) for record in records))
    rendered = [render(record, ctx, opts) for record in records]
    if response_media(request) == GEOJSON:
        return _geojson_response(to_geojson(rendered, _geoproperty(request)), headers)
    return ngsi_response(request, rendered, ctx, headers=headers)


def _geoproperty(request: Request) -> str:
    return request.query_params.get("geoproperty") or "location"


def _geojson_response(content: Any, headers: dict[str, str]) -> Response:
    return Response(orjson.dumps(content), media_type=GEOJSON, headers=headers)


@router.get("/entities/{entity_id:path}", dependencies=[CONTEXT_READ])
async def retrieve_entity(entity_id: str, request: Request, state: State) -> Response:
    """Retrieve one entity."""
    model.check_entity_id(entity_id)
    ctx = await request_context(request, state.resolver)
    opts = render_options(request, ctx)
    record = await call(state.broker.retrieve, entity_id)
    access = context_access(request)
    access.check_read(record.types)
    audit_personal(request, access, [(record.id, record.types)])
    wanted_types = csv_param(request, "type")
    if wanted_types and not {ctx.expand(t) for t in wanted_types} & set(record.types):
        raise ResourceNotFound(f"entity {entity_id} is not of type {', '.join(wanted_types)}")
    rendered = render(record, ctx, opts)
    if response_media(request) == GEOJSON:
        return _geojson_response(to_feature(rendered, _geoproperty(request)), {})
    return ngsi_response(request, rendered, ctx)


@router.delete(
    "/entities/{entity_id:path}/attrs/{attr_id}", status_code=204, dependencies=[CONTEXT_WRITE]
)
async def delete_attribute(
    entity_id: str, attr_id: str, request: Request, state: State
) -> Response:
    """Delete an attribute (one datasetId, or all instances with deleteAll=true)."""
    model.check_entity_id(entity_id)
    ctx = await request_context(request, state.resolver)
    guard_in_job(request)
    await state.broker.delete_attr.run_async(
        entity_id,
        ctx.expand(model.check_name(attr_id)),
        dataset_id=request.query_params.get("datasetId"),
        delete_all=bool_param(request, "deleteAll"),
    )
    return Response(status_code=204)


@router.delete("/entities/{entity_id:path}", status_code=204, dependencies=[CONTEXT_WRITE])
async def delete_entity(entity_id: str, request: Request, state: State) -> Response:
    """Delete an entity."""
    model.check_entity_id(entity_id)
    await guard_ids(request, state, [entity_id])
    await state.broker.delete.run_async(entity_id)
    return Response(status_code=204)


@router.put(
    "/entities/{entity_id:path}/attrs/{attr_id}", status_code=204, dependencies=[CONTEXT_WRITE]
)
async def replace_attribute(
    entity_id: str, attr_id: str, request: Request, state: State
) -> Response:
    """Replace one attribute (all of its instances given in the body)."""
    model.check_entity_id(entity_id)
    body = await read_body(request, state.max_body_bytes)
    ctx = await resolve_context(state.resolver, body.context_spec)
    iri = ctx.expand(model.check_name(attr_id))
    data = strip_context(body.data)
    instances = model.parse_attribute(attr_id, data, ctx, now_us())
    guard_in_job(request)
    await state.broker.replace_attr.run_async(entity_id, iri, instances)
    return Response(status_code=204)


@router.patch(
    "/entities/{entity_id:path}/attrs/{attr_id}", status_code=204, dependencies=[CONTEXT_WRITE]
)
async def patch_attribute(entity_id: str, attr_id: str, request: Request, state: State) -> Response:
    """Partially update one attribute instance."""
    model.check_entity_id(entity_id)
    body = await read_body(request, state.max_body_bytes, patch=True)
    ctx = await resolve_context(state.resolver, body.context_spec)
    iri = ctx.expand(model.check_name(attr_id))
    patch = _attribute_patch(attr_id, strip_context(body.data), ctx)
    guard_in_job(request)
    await state.broker.patch_attr.run_async(entity_id, iri, patch)
    return Response(status_code=204)


def _attribute_patch(name: str, data: Any, ctx: ActiveContext) -> dict[str, Any]:
    """Validate a partial attribute: members given are checked, the rest are kept."""
    if not isinstance(data, dict) or not data:
        raise BadRequestData("an attribute patch must be a non-empty JSON object")
    has_value = "type" in data or any(key in data for key in model.VALUE_KEYS.values())
    if has_value:
        instance = model.parse_instance(name, data, ctx, now_us())
        instance.pop("createdAt", None)
        return instance
    probe = {"type": "Property", "value": 0, **data}
    instance = model.parse_instance(name, probe, ctx, now_us())
    instance.pop("value")
    instance.pop("type")
    instance.pop("createdAt", None)
    return instance


@router.post("/entities/{entity_id:path}/attrs", dependencies=[CONTEXT_WRITE])
async def append_attributes(entity_id: str, request: Request, state: State) -> Response:
    """Append attributes (options=noOverwrite keeps existing ones)."""
    model.check_entity_id(entity_id)
    body = await read_body(request, state.max_body_bytes)
    ctx = await resolve_context(state.resolver, body.context_spec)
    attrs = _fragment(body, ctx)
    no_overwrite = "noOverwrite" in options(request)
    guard_in_job(request)
    result = await state.broker.append_attrs.run_async(entity_id, attrs, no_overwrite=no_overwrite)
    return _update_result(result, ctx)


@router.patch("/entities/{entity_id:path}/attrs", dependencies=[CONTEXT_WRITE])
async def update_attributes(entity_id: str, request: Request, state: State) -> Response:
    """Update existing attributes."""
    model.check_entity_id(entity_id)
    body = await read_body(request, state.max_body_bytes, patch=True)
    ctx = await resolve_context(state.resolver, body.context_spec)
    attrs = _fragment(body, ctx)
    guard_in_job(request)
    result = await state.broker.update_attrs.run_async(entity_id, attrs)
    return _update_result(result, ctx)


@router.put("/entities/{entity_id:path}", status_code=204, dependencies=[CONTEXT_WRITE])
async def replace_entity(entity_id: str, request: Request, state: State) -> Response:
    """Replace an entity's attributes (and type, if given)."""
    model.check_entity_id(entity_id)
    body = await read_body(request, state.max_body_bytes)
    ctx = await resolve_context(state.resolver, body.context_spec)
    data = require_object(body.data)
    if data.get("id", entity_id) != entity_id:
        raise BadRequestData("the body's id differs from the id in the URL")
    entity = model.parse_entity({**data, "id": entity_id}, ctx, now_us(), require_type=False)
    await guard_ids(request, state, [entity_id], entity.types)
    await state.broker.replace.run_async(entity)
    return Response(status_code=204)


@router.patch("/entities/{entity_id:path}", status_code=204, dependencies=[CONTEXT_WRITE])
async def merge_entity(entity_id: str, request: Request, state: State) -> Response:
    """Merge-patch an entity (a value of urn:ngsi-ld:null deletes the attribute)."""
    model.check_entity_id(entity_id)
    body = await read_body(request, state.max_body_bytes, patch=True)
    ctx = await resolve_context(state.resolver, body.context_spec)
    data = require_object(body.data)
    if data.get("id", entity_id) != entity_id:
        raise BadRequestData("the body's id differs from the id in the URL")
    types = model.parse_types(data.get("type"), ctx, required=False)
    attrs = model.parse_fragment(
        {k: v for k, v in data.items() if k not in model.RESERVED_NAMES},
        ctx,
        now_us(),
        allow_null=True,
    )
    if types:
        context_access(request).check_write(types)
    guard_in_job(request)
    await state.broker.merge.run_async(entity_id, attrs, types)
    return Response(status_code=204)


def require_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadRequestData("the body must be a JSON object")
    return data


def strip_context(data: Any) -> Any:
    if isinstance(data, dict) and "@context" in data:
        return {k: v for k, v in data.items() if k != "@context"}
    return data


def _fragment(body: Body, ctx: ActiveContext) -> model.Attrs:
    data = require_object(body.data)
    reserved = set(data) & {"id", "type"}
    if reserved:
        raise BadRequestData(f"an attribute fragment cannot hold {sorted(reserved)}")
    return model.parse_fragment(data, ctx, now_us(), allow_null=False)


def _update_result(result: UpdateResult, ctx: ActiveContext) -> Response:
    if not result.not_updated:
        return Response(status_code=204)
    content = {
        "updated": [ctx.compact(iri) for iri in result.updated],
        "notUpdated": [
            {"attributeName": ctx.compact(iri), "reason": reason}
            for iri, reason in result.not_updated
        ],
    }
    return Response(orjson.dumps(content), status_code=207, media_type="application/json")


# --- batch operations ----------------------------------------------------------------------


def _batch_items(body: Body, resolver: ContextResolver) -> list[model.EntityInput | NgsiLdError]:
    if not isinstance(body.data, list):
        raise BadRequestData("a batch operation takes a JSON array of entities")
    now = now_us()
    items: list[model.EntityInput | NgsiLdError] = []
    for item in body.data:
        try:
            ctx = entity_context(item, body, resolver)
            items.append(model.parse_entity(strip_context(item), ctx, now))
        except NgsiLdError as error:
            entity_id = item.get("id", "") if isinstance(item, dict) else ""
            error.extra["entityId"] = entity_id
            items.append(error)
    return items


def _batch_response(result: BatchResult, ok_status: int, ok_body: Any = None) -> Response:
    if result.errors:
        content = {
            "success": result.success,
            "errors": [
                {"entityId": entity_id, "error": _problem(error)}
                for entity_id, error in result.errors
            ],
        }
        return Response(orjson.dumps(content), status_code=207, media_type="application/json")
    if ok_body is None:
        return Response(status_code=ok_status)
    return Response(orjson.dumps(ok_body), status_code=ok_status, media_type="application/json")


def _problem(error: NgsiLdError) -> dict[str, Any]:
    problem = error.to_problem()
    problem.pop("entityId", None)
    return problem


@router.post("/entityOperations/create", dependencies=[CONTEXT_WRITE])
async def batch_create(request: Request, state: State) -> Response:
    """Create many entities."""
    body = await read_body(request, state.max_body_bytes)
    items = await run_in_threadpool(_batch_items, body, state.resolver)
    await guard_batch(request, state, items)
    result = await state.broker.batch_create.run_async(items)
    return _batch_response(result, 201, result.success)


@router.post("/entityOperations/upsert", dependencies=[CONTEXT_WRITE])
async def batch_upsert(request: Request, state: State) -> Response:
    """Create or replace (options=replace, the default) or update (options=update) entities."""
    body = await read_body(request, state.max_body_bytes)
    items = await run_in_threadpool(_batch_items, body, state.resolver)
    replace = "update" not in options(request)
    await guard_batch(request, state, items)
    result, created = await state.broker.batch_upsert.run_async(items, replace=replace)
    if created and not result.errors:
        return _batch_response(result, 201, created)
    return _batch_response(result, 204)


@router.post("/entityOperations/update", dependencies=[CONTEXT_WRITE])
async def batch_update(request: Request, state: State) -> Response:
    """Update attributes of many existing entities."""
    body = await read_body(request, state.max_body_bytes)
    items = await run_in_threadpool(_batch_items, body, state.resolver)
    no_overwrite = "noOverwrite" in options(request)
    await guard_batch(request, state, items)
    result = await state.broker.batch_update.run_async(items, no_overwrite=no_overwrite)
    return _batch_response(result, 204)


@router.post("/entityOperations/delete", dependencies=[CONTEXT_WRITE])
async def batch_delete(request: Request, state: State) -> Response:
    """Delete many entities by id."""
    body = await read_body(request, state.max_body_bytes)
    if not isinstance(body.data, list) or not all(isinstance(i, str) for i in body.data):
        raise BadRequestData("a batch delete takes a JSON array of entity ids")
    for entity_id in body.data:
        model.check_entity_id(entity_id)
    await guard_ids(request, state, body.data)
    result = await state.broker.batch_delete.run_async(body.data)
    return _batch_response(result, 204)


@router.post("/entityOperations/query", dependencies=[CONTEXT_READ])
async def batch_query(request: Request, state: State) -> Response:
    """Query entities with a Query object in the body."""
    body = await read_body(request, state.max_body_bytes)
    ctx = await resolve_context(state.resolver, body.context_spec)
    query = _query_from_body(require_object(body.data), ctx, request, state)
    opts = render_options(request, ctx)
    records, total = await call(state.broker.query, query, ctx.expand)
    return _entity_list(request, ctx, opts, records, total)


def _query_from_body(
    data: dict[str, Any], ctx: ActiveContext, request: Request, state: BrokerState
) -> EntityQuery:
    if data.get("type") != "Query":
        raise BadRequestData('a query body must have "type": "Query"')
    selectors = data.get("entities") or []
    if not isinstance(selectors, list):
        raise BadRequestData("entities must be an array of EntitySelector")
    attrs = data.get("attrs") or []
    if not isinstance(attrs, list) or not all(isinstance(a, str) for a in attrs):
        raise BadRequestData("attrs must be an array of attribute names")
    q_text = data.get("q")
    if q_text is not None and not isinstance(q_text, str):
        raise BadRequestData("q must be a string")
    limit, offset = parse_limit(request, state.default_limit, state.max_limit)
    return EntityQuery(
        selectors=[_selector(item, ctx) for item in selectors],
        attrs=sorted(model.select_attrs(attrs, ctx)),
        q=qlang.parse_q(q_text) if q_text else None,
        geo=_geo_q(data.get("geoQ"), ctx),
        limit=limit,
        offset=offset,
        count=bool_param(request, "count"),
        hidden_type_names=context_access(request).hidden_type_names(),
    )


def _selector(item: Any, ctx: ActiveContext) -> Selector:
    """One EntitySelector: type, and id or idPattern."""
    if not isinstance(item, dict):
        raise BadRequestData("an EntitySelector must be a JSON object")
    for key in ("type", "id", "idPattern"):
        if key in item and not isinstance(item[key], str):
            raise BadRequestData(f"EntitySelector {key} must be a string")
    types = [
        ctx.expand(model.check_name(t, "entity type")) for t in item.get("type", "").split(",") if t
    ]
    ids = [model.check_entity_id(item["id"])] if "id" in item else []
    return Selector(types=types, ids=ids, id_pattern=_id_pattern(item.get("idPattern")))


def _geo_q(value: Any, ctx: ActiveContext) -> geo.GeoQuery | None:
    """The geoQ member of a Query body."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequestData("geoQ must be a JSON object")
    for key in ("georel", "geometry", "geoproperty"):
        if key in value and not isinstance(value[key], str):
            raise BadRequestData(f"geoQ.{key} must be a string")
    if "coordinates" in value and not isinstance(value["coordinates"], list | str):
        raise BadRequestData("geoQ.coordinates must be an array")
    return geo.parse_geoquery(
        value.get("georel"),
        value.get("geometry"),
        value.get("coordinates"),
        ctx.expand(value.get("geoproperty") or "location"),
    )


# --- discovery -----------------------------------------------------------------------------


@router.get("/types", dependencies=[CONTEXT_READ])
async def list_types(request: Request, state: State) -> Response:
    """Entity types in use (details=true for their attributes)."""
    ctx = await request_context(request, state.resolver)
    counts = await call(state.broker.type_counts)
    if not bool_param(request, "details"):
        content: Any = {
            "id": f"urn:ngsi-ld:EntityTypeList:{uuid.uuid4()}",
            "type": "EntityTypeList",
            "typeList": [ctx.compact(iri) for iri, _ in counts],
        }
        return ngsi_response(request, content, ctx)
    usage = await call(state.broker.attribute_usage)
    content = [
        {
            "id": iri,
            "type": "EntityType",
            "typeName": ctx.compact(iri),
            "attributeNames": sorted(ctx.compact(a) for t, a, _ in usage if t == iri),
        }
        for iri, _ in counts
    ]
    return ngsi_response(request, content, ctx)


@router.get("/types/{type_name:path}", dependencies=[CONTEXT_READ])
async def type_info(type_name: str, request: Request, state: State) -> Response:
    """One entity type: how many entities, which attributes."""
    ctx = await request_context(request, state.resolver)
    iri = ctx.expand(type_name)
    counts = dict(await call(state.broker.type_counts))
    if iri not in counts:
        raise ResourceNotFound(f"no entity of type {type_name}")
    usage = await call(state.broker.attribute_usage, iri)
    content = {
        "id": iri,
        "type": "EntityTypeInfo",
        "typeName": ctx.compact(iri),
        "entityCount": counts[iri],
        "attributeDetails": [
            {"id": attr, "type": "Attribute", "attributeName": ctx.compact(attr), "count": n}
            for _, attr, n in sorted(usage)
        ],
    }
    return ngsi_response(request, content, ctx)


@router.get("/attributes", dependencies=[CONTEXT_READ])
async def list_attributes(request: Request, state: State) -> Response:
    """Attributes in use (details=true for the types that use them)."""
    ctx = await request_context(request, state.resolver)
    usage = await call(state.broker.attribute_usage)
    by_attr: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for entity_type, attr, n in usage:
        by_attr.setdefault(attr, set()).add(entity_type)
        counts[attr] = counts.get(attr, 0) + n
    if not bool_param(request, "details"):
        content: Any = {
            "id": f"urn:ngsi-ld:AttributeList:{uuid.uuid4()}",
            "type": "AttributeList",
            "attributeList": sorted(ctx.compact(a) for a in by_attr),
        }
        return ngsi_response(request, content, ctx)
    content = [
        _attribute_info(attr, types, counts[attr], ctx) for attr, types in sorted(by_attr.items())
    ]
    return ngsi_response(request, content, ctx)


@router.get("/attributes/{attr_name:path}", dependencies=[CONTEXT_READ])
async def attribute_info(attr_name: str, request: Request, state: State) -> Response:
    """One attribute: how many entities have it, and of which types."""
    ctx = await request_context(request, state.resolver)
    iri = ctx.expand(attr_name)
    usage = [u for u in await call(state.broker.attribute_usage) if u[1] == iri]
    if not usage:
        raise ResourceNotFound(f"no entity has attribute {attr_name}")
    types = {t for t, _, _ in usage}
    return ngsi_response(request, _attribute_info(iri, types, sum(n for *_, n in usage), ctx), ctx)


def _attribute_info(iri: str, types: set[str], count: int, ctx: ActiveContext) -> dict[str, Any]:
    return {
        "id": iri,
        "type": "Attribute",
        "attributeName": ctx.compact(iri),
        "attributeCount": count,
        "typeNames": sorted(ctx.compact(t) for t in types),
    }


# --- JSON-LD contexts ----------------------------------------------------------------------


@router.get("/jsonldContexts", dependencies=[CONTEXT_READ])
async def list_contexts(request: Request, state: State) -> Response:
    """The @contexts the broker has cached or hosts."""
    details = bool_param(request, "details")
    cached = state.resolver.cached()
    content = cached if details else [entry["url"] for entry in cached]
    return Response(orjson.dumps(content), media_type="application/json")


# --- not in this broker yet ----------------------------------------------------------------


#: Mounted after every other NGSI-LD router (it matches any path under /ngsi-ld/v1).
fallback_router = APIRouter(
    prefix="/ngsi-ld/v1",
    include_in_schema=False,
    dependencies=[Depends(Permission(Action.READ, Resource.PUBLIC))],
)


@fallback_router.api_route(
    "/{resource:path}",
    methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
    include_in_schema=False,
)
async def unsupported(resource: str) -> Response:
    """Subscriptions, context sources and other NGSI-LD resources this broker lacks."""
    first = resource.split("/", 1)[0]
    if first in _PLANNED:
        raise OperationNotSupported(f"/{first} is not supported by this broker yet")
    raise ResourceNotFound(f"no such NGSI-LD resource: /{resource}")


_PLANNED = {
    "csourceRegistrations",
    "csourceSubscriptions",
    "entityMaps",
    "info",
}
