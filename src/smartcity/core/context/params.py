"""HTTP edge of the broker: bodies, @context, query parameters and responses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from . import geo, model, qlang
from .errors import (
    BadRequestData,
    InvalidRequest,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from .jsonld import CORE_CONTEXT_URL, ActiveContext, ContextResolver, parse_link_header

JSON = "application/json"
JSONLD = "application/ld+json"
GEOJSON = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"
CONTEXT_REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'


@dataclass
class Body:
    """A parsed request body and the JSON-LD context that applies to it."""

    data: Any
    context_spec: Any
    ld: bool


async def read_body(request: Request, max_bytes: int, *, patch: bool = False) -> Body:
    """Read, size-check and parse a JSON body; find its @context (Link header or body)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    allowed = {JSON, JSONLD} | ({MERGE_PATCH} if patch else set())
    if media not in allowed:
        raise UnsupportedMediaType(f"Content-Type must be one of {sorted(allowed)}, got {media!r}")
    raw = await _read_limited(request, max_bytes)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"malformed JSON body: {exc}") from None
    link = request.headers.get("link")
    if media == JSONLD:
        if link and parse_link_header(link):
            raise BadRequestData("application/ld+json bodies carry @context; no Link header")
        return Body(data=data, context_spec=_body_context(data, required=True), ld=True)
    if isinstance(data, dict) and "@context" in data:
        raise BadRequestData("@context in an application/json body; use application/ld+json")
    return Body(data=data, context_spec=parse_link_header(link) if link else None, ld=False)


async def _read_limited(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"request body over {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"request body over {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _body_context(data: Any, *, required: bool) -> Any:
    """The @context of an ld+json body (of its first entity when it is an array)."""
    if isinstance(data, dict):
        if "@context" not in data and required:
            raise BadRequestData("application/ld+json body without @context")
        return data.get("@context")
    if isinstance(data, list):
        return None  # each array member carries its own @context
    return None


def entity_context(item: Any, body: Body, resolver: ContextResolver) -> ActiveContext:
    """The context of one entity of a (batch) body."""
    if body.ld and isinstance(item, dict):
        if "@context" not in item:
            raise BadRequestData("each entity of an application/ld+json array needs @context")
        return resolver.resolve(item["@context"])
    return resolver.resolve(body.context_spec)


async def resolve_context(resolver: ContextResolver, spec: Any) -> ActiveContext:
    """Resolve a @context; remote fetches run off the event loop so they never stall it."""
    if spec is None:
        return resolver.resolve(None)  # the packaged core context: no I/O
    return await run_in_threadpool(resolver.resolve, spec)


async def request_context(request: Request, resolver: ContextResolver) -> ActiveContext:
    """The context of a GET/DELETE request, from its Link header."""
    link = request.headers.get("link")
    return await resolve_context(resolver, parse_link_header(link) if link else None)


# --- query parameters ----------------------------------------------------------------------


def csv_param(request: Request, name: str) -> list[str]:
    """A comma-separated parameter as a list (empty when absent)."""
    value = request.query_params.get(name)
    return [part.strip() for part in value.split(",") if part.strip()] if value else []


#: Largest integer parameter (offset, limit, lastN): well inside a 64-bit database integer.
MAX_INT_PARAM = 2**31 - 1


def int_param(request: Request, name: str, default: int, *, minimum: int = 0) -> int:
    """A non-negative integer parameter; 400 when malformed."""
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequestData(f"{name} must be an integer, got {value!r}") from None
    if not minimum <= number <= MAX_INT_PARAM:
        raise BadRequestData(f"{name} must be between {minimum} and {MAX_INT_PARAM}, got {number}")
    return number


def bool_param(request: Request, name: str) -> bool:
    """A true/false parameter."""
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise BadRequestData(f"{name} must be true or false, got {value!r}")
    return value == "true"


def options(request: Request) -> set[str]:
    """The `options` parameter as a set."""
    return set(csv_param(request, "options"))


def render_options(request: Request, ctx: ActiveContext) -> model.RenderOptions:
    """Representation options from `options`, `format`, `attrs`, `pick`, `omit`, `lang`."""
    opts = options(request)
    unknown = opts - _KNOWN_OPTIONS
    if unknown:
        raise BadRequestData(f"unknown options: {', '.join(sorted(unknown))}")
    fmt = request.query_params.get("format") or _format_from_options(opts)
    if fmt == "simplified":
        fmt = "keyValues"
    if fmt not in ("normalized", "concise", "keyValues"):
        raise BadRequestData(f"unknown format {fmt!r}")
    attrs = _selected_attrs(request, ctx)
    pick, omit = csv_param(request, "pick"), csv_param(request, "omit")
    return model.RenderOptions(
        format=fmt,  # type: ignore[arg-type]
        sys_attrs="sysAttrs" in opts,
        attrs=attrs,
        pick_id=("id" in pick or not pick) and "id" not in omit,
        pick_type=("type" in pick or not pick) and "type" not in omit,
        lang=request.query_params.get("lang"),
    )


_KNOWN_OPTIONS = {
    "keyValues",
    "simplified",
    "concise",
    "normalized",
    "sysAttrs",
    "noOverwrite",
    "replace",
    "update",
    "temporalValues",
    "aggregatedValues",
}


def _format_from_options(opts: set[str]) -> str:
    for fmt in ("keyValues", "simplified", "concise"):
        if fmt in opts:
            return fmt
    return "normalized"


def _selected_attrs(request: Request, ctx: ActiveContext) -> frozenset[str] | None:
    """Attributes to show: `attrs` (or `pick`) minus `omit`; None = all."""
    reserved = {"id", "type"}
    attrs = csv_param(request, "attrs") or [
        n for n in csv_param(request, "pick") if n not in reserved
    ]
    omit = [n for n in csv_param(request, "omit") if n not in reserved]
    if request.query_params.get("pick") is not None and not attrs:
        return frozenset()
    if not attrs and not omit:
        return None
    if attrs:
        chosen = model.select_attrs(attrs, ctx)
        return chosen - model.select_attrs(omit, ctx)
    return _Omit(model.select_attrs(omit, ctx))


class _Omit(frozenset[str]):
    """Every attribute except these (RenderOptions.attrs is tested with `in`)."""

    def __contains__(self, item: object) -> bool:
        return not frozenset.__contains__(self, item)


def parse_limit(request: Request, default: int, maximum: int) -> tuple[int, int]:
    """`limit` and `offset`; 400 above the broker's maximum page size."""
    limit = int_param(request, "limit", default)
    if limit > maximum:
        raise BadRequestData(f"limit {limit} exceeds the maximum of {maximum}")
    return limit, int_param(request, "offset", 0)


def parse_q(request: Request) -> qlang.QExpr | None:
    """The `q` parameter, parsed (400 with the error position when malformed)."""
    text = request.query_params.get("q")
    return qlang.parse_q(text) if text else None


def parse_geo(request: Request, ctx: ActiveContext) -> geo.GeoQuery | None:
    """The geo-query parameters; geoproperty expanded with the request's context."""
    params = request.query_params
    prop = params.get("geoproperty") or "location"
    return geo.parse_geoquery(
        params.get("georel"), params.get("geometry"), params.get("coordinates"), ctx.expand(prop)
    )


# --- responses -----------------------------------------------------------------------------


def response_media(request: Request) -> str:
    """The media type to answer with: the Accept range of highest quality we can serve."""
    accept = request.headers.get("accept", "").lower()
    if not accept:
        return JSON
    best, best_q = None, 0.0
    for media, quality in _media_ranges(accept):
        served = media if media in (JSON, JSONLD, GEOJSON) else None
        if media in ("*/*", "application/*"):
            served = JSON
        # Strictly greater: on equal quality the range listed first wins; q=0 never does.
        if served is not None and quality > best_q:
            best, best_q = served, quality
    if best is None:
        raise NotAcceptable(f"cannot answer with {accept!r}; use {JSON}, {JSONLD} or {GEOJSON}")
    return best


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    """(media range, q) pairs of an Accept header; a malformed q counts as 0."""
    ranges = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        ranges.append((media, quality))
    return ranges


def ngsi_response(
    request: Request,
    content: Any,
    ctx: ActiveContext,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A JSON or JSON-LD response with the context in the body or in a Link header."""
    media = response_media(request)
    extra = dict(headers or {})
    if media == JSONLD:
        content = _with_context(content, ctx.context_value)
    else:
        extra["Link"] = f"<{_context_url(ctx)}>; {CONTEXT_REL}"
    return Response(orjson.dumps(content), status_code=status, media_type=media, headers=extra)


def _with_context(content: Any, context: list[Any]) -> Any:
    value = context[0] if len(context) == 1 else context
    if isinstance(content, dict):
        return {**content, "@context": value}
    if isinstance(content, list):
        return [_with_context(item, context) for item in content]
    return content


def _context_url(ctx: ActiveContext) -> str:
    for item in ctx.context_value:
        if isinstance(item, str):
            return item
    return CORE_CONTEXT_URL


def to_geojson(entities: list[dict[str, Any]], geoproperty: str) -> dict[str, Any]:
    """A FeatureCollection of rendered entities (Accept: application/geo+json)."""
    features = [to_feature(entity, geoproperty) for entity in entities]
    return {"type": "FeatureCollection", "features": features}


def to_feature(entity: dict[str, Any], geoproperty: str) -> dict[str, Any]:
    """One rendered entity as a GeoJSON Feature."""
    prop = entity.get(geoproperty)
    geometry = None
    if isinstance(prop, dict):
        geometry = prop.get("value", prop) if "coordinates" not in prop else prop
    return {"id": entity.get("id"), "type": "Feature", "geometry": geometry, "properties": entity}
