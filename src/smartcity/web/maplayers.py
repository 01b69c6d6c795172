"""The IOC map's layers: declared by domains, served compactly for tens of thousands of markers.

`GET /api/map/layers` lists the layers (titles in both languages, legend); `GET
/api/map/layers/{key}` returns one layer's markers as parallel arrays — ids, names, lon/lat
rounded to ~1 m, the colouring value and its colour — about 100 bytes a marker with 36-char
ids (11 bytes gzipped; benchmarks/ioc_map.py measured 219 KB for 20,000 lamps) instead of the
~1 kB of a full entity. A layer is rebuilt at most every `CACHE_S` seconds whatever the
number of screens watching it, one build at a time per layer. A build up to `STALE_S` old is
served at once while a fresh one is made in the background (stale-while-revalidate), so a
screen never waits on a 20,000-marker rebuild (0.5–0.8 s) unless nobody looked for a while.
"""

from __future__ import annotations

import gzip
import math
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from smartcity.core.auth.deps import Permission
from smartcity.core.auth.errors import NotFound
from smartcity.core.auth.policy import Action, Resource
from smartcity.core.context.jsonld import ActiveContext
from smartcity.core.context.model import LOCATION_IRI
from smartcity.core.context.service import ContextBroker, EntityQuery
from smartcity.core.registry import DOMAINS, MapLayer

CACHE_S = 2.0
#: Older than this, a layer is rebuilt before it is served (the page refreshes every 10 s).
STALE_S = 15.0
PAGE = 1000
NAME_IRI_TERM = "name"

router = APIRouter(prefix="/api/map", tags=["map"])
ReadContext = Depends(Permission(Action.READ, Resource.CONTEXT))


def all_layers() -> list[MapLayer]:
    """Every registered domain's layers, in domain order."""
    return [layer for domain in DOMAINS for layer in domain.map_layers]


def layer_info(layer: MapLayer) -> dict[str, Any]:
    """A layer's description for the page: titles, legend, unit, visibility."""
    legend = [{"upTo": bound, "color": color} for bound, color in layer.steps]
    legend += [{"value": value, "color": color} for value, color in layer.categories.items()]
    return {
        "key": layer.key,
        "entityType": layer.entity_type,
        "title": {"vi": layer.title_vi, "en": layer.title_en},
        "attribute": layer.color_attr,
        "unit": layer.unit,
        "legend": legend,
        "visible": layer.visible,
    }


@dataclass
class _Cached:
    built_at: float
    body: bytes
    gzipped: bytes


class LayerBuilder:
    """Reads a layer's entities from the store and packs them (with a short cache)."""

    def __init__(self, broker: ContextBroker, ctx: ActiveContext) -> None:
        self.broker = broker
        self.ctx = ctx
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()
        self._background = ThreadPoolExecutor(1, thread_name_prefix="map-layers")

    def build(self, layer: MapLayer) -> _Cached:
        """The layer's markers as JSON (and gzipped): fresh, or stale and being refreshed."""
        cached = self._cache.get(layer.key)
        age = time.monotonic() - cached.built_at if cached is not None else math.inf
        if cached is not None and age < CACHE_S:
            return cached
        if cached is not None and age < STALE_S:
            self._refresh_later(layer)
            return cached
        with self._layer_lock(layer.key):  # one build at a time; the others wait for it
            cached = self._cache.get(layer.key)
            if cached is not None and time.monotonic() - cached.built_at < CACHE_S:
                return cached
            return self._rebuild(layer)

    def _layer_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(key, threading.Lock())

    def _refresh_later(self, layer: MapLayer) -> None:
        with self._lock:
            if layer.key in self._refreshing:
                return
            self._refreshing.add(layer.key)
        self._background.submit(self._refresh, layer)

    def _refresh(self, layer: MapLayer) -> None:
        try:
            with self._layer_lock(layer.key):
                self._rebuild(layer)
        finally:
            with self._lock:
                self._refreshing.discard(layer.key)

    def _rebuild(self, layer: MapLayer) -> _Cached:
        body = orjson.dumps(self._pack(layer))
        # Compressed once per rebuild, not once per screen: ~5× smaller on the wire.
        cached = _Cached(time.monotonic(), body, gzip.compress(body, compresslevel=5))
        self._cache[layer.key] = cached
        return cached

    def _pack(self, layer: MapLayer) -> dict[str, Any]:
        value_iri = self.ctx.expand(layer.color_attr) if layer.color_attr else None
        required = self.ctx.expand(layer.require_attr) if layer.require_attr else None
        name_iri = self.ctx.expand(NAME_IRI_TERM)
        columns: dict[str, list[Any]] = {k: [] for k in ("id", "name", "lon", "lat", "v", "c")}
        for record in self._records(layer.entity_type):
            if required is not None and required not in record.attrs:
                continue
            point = _point(record.attrs.get(LOCATION_IRI))
            if point is None:
                continue
            value = _value(record.attrs.get(value_iri)) if value_iri else None
            columns["id"].append(record.id)
            columns["name"].append(_value(record.attrs.get(name_iri)))
            columns["lon"].append(round(point[0], 5))
            columns["lat"].append(round(point[1], 5))
            columns["v"].append(value)
            columns["c"].append(layer.color_of(value))
        return {"key": layer.key, "count": len(columns["id"]), **columns}

    def _records(self, entity_type: str) -> Any:
        """Every entity of a type, a page at a time."""
        offset = 0
        while True:
            query = EntityQuery(types=[self.ctx.expand(entity_type)], limit=PAGE, offset=offset)
            page, _ = self.broker.query(query, self.ctx.expand)
            yield from page
            if len(page) < PAGE:
                return
            offset += PAGE


def _value(instances: Sequence[dict[str, Any]] | None) -> Any:
    """The value of an attribute's (first) instance: Property value or Relationship object."""
    if not instances:
        return None
    first = instances[0]
    return first.get("value", first.get("object"))


def _point(instances: Sequence[dict[str, Any]] | None) -> tuple[float, float] | None:
    """A marker position: a Point, else the first vertex of a line or polygon."""
    geometry = _value(instances)
    if not isinstance(geometry, dict):
        return None
    coords: Any = geometry.get("coordinates")
    while isinstance(coords, list) and coords and isinstance(coords[0], list):
        coords = coords[0] if geometry.get("type") != "LineString" else coords[len(coords) // 2]
    if isinstance(coords, list) and len(coords) >= 2:
        return float(coords[0]), float(coords[1])
    return None


def _builder(request: Request) -> LayerBuilder:
    builder: LayerBuilder = request.app.state.map_layers
    return builder


Builder = Annotated[LayerBuilder, Depends(_builder)]


@router.get("/layers", dependencies=[ReadContext])
async def list_layers() -> dict[str, Any]:
    """The layers the map can show, with their legends."""
    return {"layers": [layer_info(layer) for layer in all_layers()]}


@router.get("/layers/{key}", dependencies=[ReadContext])
async def layer_markers(key: str, builder: Builder, request: Request) -> Response:
    """One layer's markers as parallel arrays (id, name, lon, lat, value v, colour c)."""
    layer = next((layer for layer in all_layers() if layer.key == key), None)
    if layer is None:
        raise NotFound(f"no map layer {key!r}")
    cached = await run_in_threadpool(builder.build, layer)
    headers = {"cache-control": "no-cache", "vary": "accept-encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"
        return Response(cached.gzipped, media_type="application/json", headers=headers)
    return Response(cached.body, media_type="application/json", headers=headers)
