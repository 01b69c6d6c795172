"""NGSI-LD entity model: payloads in (normalized or concise) to the stored form and back.

Stored form: ``{"<attribute IRI>": [instance, ...]}`` with the default instance (no
datasetId) first. An instance is a normalized attribute (``type`` plus ``value``,
``object``, ``languageMap`` …) whose sub-attributes are keyed by IRI too.
Pure functions only; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from . import geo
from .errors import BadRequestData
from .times import format_us, normalize_datetime

Attrs = dict[str, list[dict[str, Any]]]
Format = Literal["normalized", "concise", "keyValues"]

#: The member of each attribute type that carries its value.
VALUE_KEYS: dict[str, str] = {
    "Property": "value",
    "GeoProperty": "value",
    "Relationship": "object",
    "LanguageProperty": "languageMap",
    "JsonProperty": "json",
    "VocabProperty": "vocab",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
}
_CONCISE_KEYS = {key: kind for kind, key in reversed(list(VALUE_KEYS.items()))}
GEOJSON_TYPES = frozenset(
    {"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"}
)
#: Members of an instance that are not sub-attributes.
INSTANCE_MEMBERS = frozenset(
    {"type", "observedAt", "unitCode", "datasetId", "createdAt", "modifiedAt", "instanceId"}
    | set(VALUE_KEYS.values())
    | {"lang", "deletedAt", "previousValue", "previousObject"}
)
RESERVED_NAMES = frozenset({"id", "@id", "type", "@type", "@context", "createdAt", "modifiedAt"})
NULL_URI = "urn:ngsi-ld:null"
LOCATION_IRI = "https://uri.etsi.org/ngsi-ld/location"
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")
_FORBIDDEN_NAME = re.compile(r"[\s<>\"'=;()\[\]&?|,*]")


class TermMapper(Protocol):
    """What the model needs from a JSON-LD context."""

    def expand(self, term: str) -> str: ...

    def compact(self, iri: str) -> str: ...


def is_uri(value: object) -> bool:
    """True when `value` is an absolute URI (what NGSI-LD requires of ids)."""
    return isinstance(value, str) and len(value) <= 2048 and _URI.match(value) is not None


def check_entity_id(value: object) -> str:
    """Return the entity id or raise BadRequestData when it is not a URI."""
    if not is_uri(value):
        raise BadRequestData(f"entity id must be a URI: {value!r}")
    assert isinstance(value, str)
    return value


def check_name(name: object, what: str = "attribute name") -> str:
    """Reject names with characters the NGSI-LD query language reserves."""
    if not isinstance(name, str) or not name or _FORBIDDEN_NAME.search(name):
        raise BadRequestData(f"invalid {what}: {name!r}")
    return name


@dataclass
class EntityInput:
    """A validated, expanded entity ready to store."""

    id: str
    types: list[str]
    attrs: Attrs = field(default_factory=dict)
    scope: list[str] | None = None

    @property
    def type(self) -> str:
        """The first (primary) type."""
        return self.types[0]


def parse_entity(
    body: object, ctx: TermMapper, now: int, *, require_type: bool = True, temporal: bool = False
) -> EntityInput:
    """Validate an entity payload (normalized or concise) and expand it with `ctx`.

    `temporal`: a temporal representation, where one attribute has many instances in time.
    """
    if not isinstance(body, dict):
        raise BadRequestData("an entity must be a JSON object")
    entity_id = check_entity_id(body.get("id", body.get("@id")))
    types = parse_types(body.get("type", body.get("@type")), ctx, required=require_type)
    attrs = parse_fragment(
        {k: v for k, v in body.items() if k not in RESERVED_NAMES},
        ctx,
        now,
        allow_null=False,
        temporal=temporal,
    )
    return EntityInput(id=entity_id, types=types, attrs=attrs)


def parse_types(value: object, ctx: TermMapper, *, required: bool = True) -> list[str]:
    """Expand an entity type or list of types."""
    if value is None:
        if required:
            raise BadRequestData("entity type is missing")
        return []
    names = value if isinstance(value, list) else [value]
    if not names:
        raise BadRequestData("entity type list is empty")
    return [ctx.expand(check_name(name, "entity type")) for name in names]


def parse_fragment(
    fragment: Mapping[str, object],
    ctx: TermMapper,
    now: int,
    *,
    allow_null: bool,
    temporal: bool = False,
) -> Attrs:
    """Validate and expand a set of attributes (an entity body less id and type)."""
    attrs: Attrs = {}
    for name, raw in fragment.items():
        if name == "@context":
            continue
        if name in RESERVED_NAMES:
            raise BadRequestData(f"{name!r} cannot be used as an attribute name")
        if name == "scope":
            continue
        iri = ctx.expand(check_name(name))
        attrs[iri] = parse_attribute(name, raw, ctx, now, allow_null=allow_null, temporal=temporal)
    return attrs


def parse_attribute(
    name: str,
    raw: object,
    ctx: TermMapper,
    now: int,
    *,
    allow_null: bool = False,
    temporal: bool = False,
) -> list[dict[str, Any]]:
    """Turn one attribute (one instance or a list of instances) into stored instances."""
    raw_instances = raw if _is_instance_list(raw) else [raw]
    assert isinstance(raw_instances, list)
    instances = [parse_instance(name, item, ctx, now, allow_null) for item in raw_instances]
    if temporal:
        return instances
    dataset_ids = [inst.get("datasetId") for inst in instances]
    if len(set(dataset_ids)) != len(dataset_ids):
        raise BadRequestData(f"attribute {name!r} has two instances with the same datasetId")
    instances.sort(key=lambda inst: "datasetId" in inst)
    return instances


def _is_instance_list(raw: object) -> bool:
    """A list of attribute instances, as opposed to a plain array value."""
    return (
        isinstance(raw, list)
        and bool(raw)
        and all(isinstance(item, dict) and _looks_like_instance(item) for item in raw)
    )


def _looks_like_instance(item: dict[str, Any]) -> bool:
    return item.get("type") in VALUE_KEYS or any(key in item for key in _CONCISE_KEYS)


def parse_instance(
    name: str, raw: object, ctx: TermMapper, now: int, allow_null: bool = False
) -> dict[str, Any]:
    """Validate one attribute instance given in normalized or concise form."""
    if raw is None:
        raise BadRequestData(f"attribute {name!r} has a null value")
    source = _to_normalized(raw)
    kind = source["type"]
    value_key = VALUE_KEYS[kind]
    if value_key not in source:
        raise BadRequestData(f"attribute {name!r} of type {kind} has no {value_key!r} member")
    instance: dict[str, Any] = {"type": kind, value_key: source[value_key]}
    if source[value_key] == NULL_URI and allow_null:
        return instance
    _check_value(name, kind, source[value_key])
    _copy_meta(name, source, instance)
    instance["createdAt"] = instance["modifiedAt"] = format_us(now)
    for sub_name, sub_raw in source.items():
        if sub_name in INSTANCE_MEMBERS or sub_name == "@context":
            continue
        sub_iri = ctx.expand(check_name(sub_name, "sub-attribute name"))
        instance[sub_iri] = parse_instance(sub_name, sub_raw, ctx, now, allow_null)
    return instance


def _to_normalized(raw: object) -> dict[str, Any]:
    """Read a concise attribute as normalized: infer its type from its members."""
    if isinstance(raw, dict):
        declared = raw.get("type")
        if declared in VALUE_KEYS:
            return raw
        if declared in GEOJSON_TYPES and "coordinates" in raw:
            return {"type": "GeoProperty", "value": raw}
        if declared is not None:
            raise BadRequestData(f"unknown attribute type {declared!r}")
        for key, kind in _CONCISE_KEYS.items():
            if key in raw:
                return {"type": kind, **raw}
    return {"type": "Property", "value": raw}


def _check_value(name: str, kind: str, value: Any) -> None:
    if value is None:
        raise BadRequestData(f"attribute {name!r} has a null value")
    if kind == "Relationship" and not is_uri(value):
        raise BadRequestData(f"relationship {name!r} must point to a URI, got {value!r}")
    if kind == "ListRelationship" and not (
        isinstance(value, list) and all(is_uri(item) for item in value)
    ):
        raise BadRequestData(f"relationship list {name!r} must hold URIs")
    if kind == "GeoProperty":
        geo.validate_geojson(value)
    if kind == "LanguageProperty" and not _is_language_map(value):
        raise BadRequestData(f"languageMap of {name!r} must map language tags to strings")
    if kind == "ListProperty" and not isinstance(value, list):
        raise BadRequestData(f"valueList of {name!r} must be an array")


def _is_language_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(tag, str)
        and (
            isinstance(text, str)
            or (isinstance(text, list) and all(isinstance(t, str) for t in text))
        )
        for tag, text in value.items()
    )


def _copy_meta(name: str, source: dict[str, Any], instance: dict[str, Any]) -> None:
    if "observedAt" in source:
        instance["observedAt"] = normalize_datetime(source["observedAt"], f"{name}.observedAt")
    if "unitCode" in source:
        if not isinstance(source["unitCode"], str):
            raise BadRequestData(f"unitCode of {name!r} must be a string")
        instance["unitCode"] = source["unitCode"]
    if "datasetId" in source:
        if not is_uri(source["datasetId"]):
            raise BadRequestData(f"datasetId of {name!r} must be a URI")
        instance["datasetId"] = source["datasetId"]
    if "lang" in source and isinstance(source["lang"], str):
        instance["lang"] = source["lang"]


# --- merging -----------------------------------------------------------------------------


def find_instance(instances: list[dict[str, Any]], dataset_id: str | None) -> int | None:
    """Index of the instance with this datasetId (None = the default instance)."""
    for index, inst in enumerate(instances):
        if inst.get("datasetId") == dataset_id:
            return index
    return None


def put_instance(instances: list[dict[str, Any]], new: dict[str, Any]) -> None:
    """Add or replace an instance, keeping createdAt of the one it replaces."""
    index = find_instance(instances, new.get("datasetId"))
    if index is None:
        instances.append(new)
        instances.sort(key=lambda inst: "datasetId" in inst)
        return
    new["createdAt"] = instances[index].get("createdAt", new["createdAt"])
    instances[index] = new


def merge_instance(old: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Merge a partial instance into a stored one (PATCH attribute / merge-patch)."""
    merged = dict(old)
    for key, value in patch.items():
        if key == "createdAt":
            continue
        if (
            key not in INSTANCE_MEMBERS
            and isinstance(value, dict)
            and isinstance(old.get(key), dict)
        ):
            if _is_null(value):
                merged.pop(key, None)
            else:
                merged[key] = merge_instance(old[key], value)
        else:
            merged[key] = value
    if merged.get("type") != old.get("type"):
        _rekey_value(old, merged)
    return merged


def _rekey_value(old: dict[str, Any], merged: dict[str, Any]) -> None:
    """Drop the old value member when an attribute changes type (Property to Relationship)."""
    old_key = VALUE_KEYS.get(old.get("type", ""), "value")
    new_key = VALUE_KEYS.get(merged.get("type", ""), "value")
    if old_key != new_key:
        merged.pop(old_key, None)


def _is_null(instance: dict[str, Any]) -> bool:
    return any(instance.get(key) == NULL_URI for key in ("value", "object", "languageMap"))


def is_null_instance(instance: dict[str, Any]) -> bool:
    """True when a merge-patch asks to delete this attribute (value urn:ngsi-ld:null)."""
    return _is_null(instance)


def location_bbox(attrs: Attrs) -> tuple[float, float, float, float] | None:
    """Bounding box of the default `location` instance, for the spatial index."""
    instances = attrs.get(LOCATION_IRI)
    if not instances or instances[0].get("type") != "GeoProperty":
        return None
    return geo.geometry_bbox(instances[0]["value"])


def numeric_value(instance: dict[str, Any]) -> float | None:
    """The instance's value as a float when it is a number (for temporal aggregation)."""
    value = instance.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# --- rendering ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderOptions:
    """How an entity is shown: format, system attributes, attribute selection, language."""

    format: Format = "normalized"
    sys_attrs: bool = False
    attrs: frozenset[str] | None = None  # expanded IRIs to keep; None = all
    pick_id: bool = True
    pick_type: bool = True
    lang: str | None = None


def render_entity(
    entity_id: str,
    types: list[str],
    attrs: Attrs,
    ctx: TermMapper,
    options: RenderOptions,
    *,
    created_at: int | None = None,
    modified_at: int | None = None,
) -> dict[str, Any]:
    """Render a stored entity in the requested representation, compacted with `ctx`."""
    out: dict[str, Any] = {}
    if options.pick_id:
        out["id"] = entity_id
    if options.pick_type:
        names = [ctx.compact(t) for t in types]
        out["type"] = names[0] if len(names) == 1 else names
    if options.sys_attrs and created_at is not None and modified_at is not None:
        out["createdAt"] = format_us(created_at)
        out["modifiedAt"] = format_us(modified_at)
    for iri, instances in attrs.items():
        if options.attrs is not None and iri not in options.attrs:
            continue
        shown = [render_instance(inst, ctx, options) for inst in instances]
        out[ctx.compact(iri)] = shown[0] if len(shown) == 1 else shown
    return out


def render_instance(instance: dict[str, Any], ctx: TermMapper, options: RenderOptions) -> Any:
    """Render one attribute instance in the requested format."""
    instance = _apply_lang(instance, options.lang)
    if options.format == "keyValues":
        return instance.get(VALUE_KEYS.get(instance["type"], "value"))
    out: dict[str, Any] = {}
    for key, value in instance.items():
        if key in ("createdAt", "modifiedAt") and not options.sys_attrs:
            continue
        if key in INSTANCE_MEMBERS:
            out[key] = value
        else:
            out[ctx.compact(key)] = render_instance(value, ctx, options)
    return _concise(out) if options.format == "concise" else out


def _apply_lang(instance: dict[str, Any], lang: str | None) -> dict[str, Any]:
    """With `lang=`, a LanguageProperty becomes a Property in that language."""
    if lang is None or instance.get("type") != "LanguageProperty":
        return instance
    lang_map: dict[str, Any] = instance["languageMap"]
    chosen = (
        lang if lang in lang_map else ("@none" if "@none" in lang_map else next(iter(lang_map)))
    )
    shown = {k: v for k, v in instance.items() if k != "languageMap"}
    shown.update(type="Property", value=lang_map[chosen], lang=chosen)
    return shown


def _concise(out: dict[str, Any]) -> Any:
    """Drop what concise form leaves implicit (type, and the value wrapper when alone)."""
    kind = out.pop("type")
    if kind == "GeoProperty" and len(out) == 1:
        return out["value"]
    if kind == "Property" and len(out) == 1 and not isinstance(out["value"], dict | list):
        return out["value"]
    return out


def select_attrs(names: Iterable[str], ctx: TermMapper) -> frozenset[str]:
    """Expand a list of attribute names given by a client."""
    return frozenset(ctx.expand(check_name(name)) for name in names)
