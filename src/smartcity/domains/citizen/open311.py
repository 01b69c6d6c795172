"""Open311 GeoReport v2 wire format: JSON and XML rendering, request parsing, errors.

Pure: no web framework, no database. Follows the GeoReport v2 specification
(http://wiki.open311.org/GeoReport_v2), its Service Discovery page, and mySociety's
`servicerequestupdates` extension (the FixMyStreet "Open311 FMS - Proposed differences" page).

* XML is the spec's required format, JSON optional; both are produced. XML starts with
  `<?xml version="1.0" encoding="UTF-8"?>`, has no namespace, and lists use the spec's element
  names (services/service, attributes/attribute, values/value, service_requests/request,
  errors/error, service_request_updates/request_update, endpoints/endpoint, formats/format).
  JSON follows the Spark convention: the root wrapper is dropped, so lists are top-level arrays
  (discovery is an object).
* Absent values are `null` in JSON and empty elements in XML (the spec's `<account_id/>`).
* Date-times are W3C/ISO 8601 with an offset; this city renders them at +07:00.
* Errors: 404 for what doesn't exist, 403 for the API key, 400 for the rest; the body is the
  spec's array of {code, description} where code is the HTTP status.
* POST validation collects every 400 problem; the raised Open311Error carries them all in
  `errors` (the spec allows several errors in one body).
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

#: The specification token used by Service Discovery.
SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
#: Output formats and their Content-Type headers (as the spec's Format Support section gives).
MEDIA_TYPES: dict[str, str] = {
    "xml": "text/xml; charset=utf-8",
    "json": "application/json; charset=utf-8",
}
#: GET requests: the longest start_date..end_date span and the default window.
MAX_SPAN = timedelta(days=90)
#: GET requests: the spec's default cap on the number of requests returned.
MAX_RESULTS = 1000
#: POST requests: the spec limits description to 4,000 characters.
MAX_DESCRIPTION = 4000
#: Other single-valued POST fields (names, phone, ids, attribute values).
MAX_FIELD = 255
MAX_URL = 2048

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
LIST_DATATYPES = ("singlevaluelist", "multivaluelist")
SERVICE_TYPES = ("realtime", "batch", "blackbox")
STATUSES = ("open", "closed")

REQUEST_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
UPDATE_FIELDS = (
    "update_id",
    "service_request_id",
    "status",
    "updated_datetime",
    "description",
    "media_url",
)

_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
#: The element name of one item of each list (XML); JSON has plain arrays.
_ITEM_NAMES = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "errors": "error",
    "service_request_updates": "request_update",
    "endpoints": "endpoint",
    "formats": "format",
}
# Characters XML 1.0 cannot carry at all.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Tags (<b>, </p>, <br/>, <a href=…>), comments, CDATA, doctype and processing instructions;
# "a < b" and "<3" are not markup.
_HTML = re.compile(
    r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>|<!--|<!\[CDATA\[|<!doctype|<\?",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+?[0-9 ().-]{6,20}")
_SHORT_FIELDS = ("address_string", "address_id", "email", "device_id", "account_id",
                 "first_name", "last_name", "phone")  # fmt: skip
_ATTRIBUTE_KEY = re.compile(r"attribute\[([^\[\]]+)\](\[\])?")
# A "+hh:mm" offset whose "+" became a space in an unencoded query string.
_SPACED_OFFSET = re.compile(r"(.*T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})")


# --- date-times ------------------------------------------------------------------------------


def format_datetime(moment: datetime) -> str:
    """An aware date-time as ISO 8601 at +07:00, to the second (2026-12-04T14:05:00+07:00)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("format_datetime needs an aware datetime")
    return moment.astimezone(VN_TZ).replace(microsecond=0).isoformat()


def parse_datetime(text: str, field: str) -> datetime:
    """An ISO 8601 date-time with an offset or Z, at +07:00; Open311Error(400) otherwise."""
    raw = text.strip()
    spaced = _SPACED_OFFSET.fullmatch(raw)
    if spaced:
        raw = f"{spaced.group(1)}+{spaced.group(2)}"
    if "T" not in raw.upper():
        raise _bad_datetime(field)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise _bad_datetime(field) from None
    if moment.tzinfo is None:
        raise _bad_datetime(field)
    return moment.astimezone(VN_TZ)


def _bad_datetime(field: str) -> Open311Error:
    return Open311Error(
        400, f"{field} must be an ISO 8601 date-time with an offset, e.g. 2026-12-04T14:05:00+07:00"
    )


# --- errors ----------------------------------------------------------------------------------


class Open311Error(Exception):
    """An error for the client: HTTP status, the spec's code (the status) and a description."""

    def __init__(self, status: int, description: str, code: int | None = None) -> None:
        if not 400 <= status <= 599:
            raise ValueError(f"not an HTTP error status: {status}")
        super().__init__(description)
        self.status = status
        self.code = status if code is None else code
        self.description = description
        #: Every error to report, this one first (POST validation finds several at once).
        self.errors: tuple[Open311Error, ...] = (self,)

    @classmethod
    def combined(cls, errors: Sequence[Open311Error]) -> Open311Error:
        """The first error, carrying all of them in `errors`."""
        if not errors:
            raise ValueError("no errors to combine")
        first = errors[0]
        first.errors = tuple(errors)
        return first

    def __repr__(self) -> str:
        return f"Open311Error({self.status}, {self.description!r})"


def error_body(errors: Sequence[Open311Error], fmt: str) -> tuple[bytes, str]:
    """The spec's error array; XML unless fmt is "json" (XML is the required format)."""
    items = [{"code": e.code, "description": e.description} for e in errors]
    return _render("errors", items, "json" if fmt == "json" else "xml")


def format_of(path_suffix: str) -> str:
    """The format named by a resource's suffix (".json" → "json"); Open311Error otherwise."""
    suffix = path_suffix[1:] if path_suffix.startswith(".") else path_suffix
    suffix = suffix.strip().lower()
    if not suffix:
        raise Open311Error(400, "format missing: end the path with .xml or .json")
    if suffix not in MEDIA_TYPES:
        raise Open311Error(404, f"format {suffix!r} is not supported: use .xml or .json")
    return suffix


# --- services --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceAttribute:
    """One field of a service definition (the spec's attribute)."""

    code: str
    datatype: str
    required: bool
    description: str
    order: int
    variable: bool = True
    #: (key, name) options of a singlevaluelist or multivaluelist.
    values: tuple[tuple[str, str], ...] = ()
    datatype_description: str = ""

    def __post_init__(self) -> None:
        if self.datatype not in DATATYPES:
            raise ValueError(f"unknown Open311 datatype {self.datatype!r}")

    @property
    def keys(self) -> tuple[str, ...]:
        """The allowed keys of a list datatype."""
        return tuple(key for key, _ in self.values)


@dataclass(frozen=True)
class Service:
    """One service type (the spec's service) and its definition's attributes."""

    service_code: str
    service_name: str
    description: str
    group: str
    keywords: tuple[str, ...]
    #: Whether the service has a definition (attributes) to fetch.
    metadata: bool
    type: str = "realtime"
    attributes: tuple[ServiceAttribute, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in SERVICE_TYPES:
            raise ValueError(f"unknown Open311 service type {self.type!r}")


def render_services(services: Sequence[Service], fmt: str) -> tuple[bytes, str]:
    """GET services: <services><service>…, or a JSON array."""
    items = [
        {
            "service_code": s.service_code,
            "service_name": s.service_name,
            "description": s.description,
            "metadata": s.metadata,
            "type": s.type,
            "keywords": ", ".join(s.keywords),
            "group": s.group,
        }
        for s in services
    ]
    return _render("services", items, fmt)


def render_service_definition(service: Service, fmt: str) -> tuple[bytes, str]:
    """GET service definition: <service_definition> with its attributes in order."""
    attributes = []
    for a in sorted(service.attributes, key=lambda a: a.order):
        item: dict[str, Any] = {
            "variable": a.variable,
            "code": a.code,
            "datatype": a.datatype,
            "required": a.required,
            "datatype_description": a.datatype_description or None,
            "order": a.order,
            "description": a.description,
        }
        if a.datatype in LIST_DATATYPES:
            item["values"] = [{"key": key, "name": name} for key, name in a.values]
        attributes.append(item)
    body = {"service_code": service.service_code, "attributes": attributes}
    return _render("service_definition", body, fmt)


# --- service requests ------------------------------------------------------------------------


def render_requests(requests: Sequence[Mapping[str, Any]], fmt: str) -> tuple[bytes, str]:
    """GET requests and GET request: <service_requests><request>…, the spec's fields in order."""
    items = []
    for request in requests:
        status = request.get("status")
        if status not in STATUSES:
            raise ValueError(f"Open311 status must be open or closed, not {status!r}")
        items.append({name: request.get(name) for name in REQUEST_FIELDS})
    return _render("service_requests", items, fmt)


def render_created(items: Sequence[Mapping[str, Any]], fmt: str) -> tuple[bytes, str]:
    """POST requests: service_request_id (else token), service_notice, account_id."""
    # The spec returns one of service_request_id and token, never both: given both, the id wins.
    out = []
    for item in items:
        request_id, token = item.get("service_request_id"), item.get("token")
        entry: dict[str, Any] = {}
        if request_id is not None:
            entry["service_request_id"] = request_id
        elif token is not None:
            entry["token"] = token
        entry["service_notice"] = item.get("service_notice")
        entry["account_id"] = item.get("account_id")
        out.append(entry)
    return _render("service_requests", out, fmt)


def render_tokens(items: Sequence[Mapping[str, Any]], fmt: str) -> tuple[bytes, str]:
    """GET tokens/[token]: service_request_id (null while pending) and the token."""
    out = [
        {"service_request_id": item.get("service_request_id"), "token": item.get("token")}
        for item in items
    ]
    return _render("service_requests", out, fmt)


def render_updates(updates: Sequence[Mapping[str, Any]], fmt: str) -> tuple[bytes, str]:
    """mySociety GET servicerequestupdates: <service_request_updates><request_update>…"""
    items = [{name: update.get(name) for name in UPDATE_FIELDS} for update in updates]
    return _render("service_request_updates", items, fmt)


def render_discovery(
    base_url: str, fmt: str, changeset: datetime, contact: str, key_service: str
) -> tuple[bytes, str]:
    """Service Discovery: one production GeoReport v2 endpoint offering XML and JSON."""
    stamp = format_datetime(changeset)
    body = {
        "changeset": stamp,
        "contact": contact,
        "key_service": key_service,
        "endpoints": [
            {
                "specification": SPEC_URL,
                "url": base_url,
                "changeset": stamp,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return _render("discovery", body, fmt)


# --- parsing a new request (POST) ------------------------------------------------------------


@dataclass(frozen=True)
class NewRequest:
    """A validated POST service request."""

    service_code: str
    lat: float | None
    long: float | None
    address_string: str | None
    address_id: str | None
    email: str | None
    device_id: str | None
    account_id: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None
    description: str | None
    media_url: str | None
    #: Attribute code → values (one for all but multivaluelist), only the service's own codes.
    attributes: dict[str, list[str]]


def parse_new_request(
    form: Mapping[str, list[str]] | Sequence[tuple[str, str]], service: Service | None
) -> NewRequest:
    """Check a form-encoded POST against its service (None: unknown); Open311Error 400/404."""
    # Empty fields count as absent (the spec's "Optional Arguments"). Attributes come as
    # attribute[code]=v or attribute[code][]=v1&attribute[code][]=v2; codes the service doesn't
    # define, and values for non-variable attributes, are dropped. Every 400 problem is
    # collected: the raised error carries them all in `errors`.
    pairs = _pairs(form)
    single = _first_values(pairs)
    code = single.get("service_code")
    if code is None:
        raise Open311Error(400, "service_code is required")
    if service is None:
        raise Open311Error(404, f"service_code {code!r} not found")
    if service.service_code != code:
        raise ValueError(f"service {service.service_code!r} given for service_code {code!r}")

    errors: list[Open311Error] = []

    def bad(description: str) -> None:
        errors.append(Open311Error(400, description))

    lat = long = None
    lat_text, long_text = single.get("lat"), single.get("long")
    if lat_text is not None or long_text is not None:
        if lat_text is None or long_text is None:
            bad("lat and long must be sent together")
        else:
            lat = _number(lat_text)
            long = _number(long_text)
            if lat is None or not -90 <= lat <= 90:
                bad("lat must be a number between -90 and 90")
            if long is None or not -180 <= long <= 180:
                bad("long must be a number between -180 and 180")
    elif single.get("address_string") is None and single.get("address_id") is None:
        bad("location required: send lat and long, address_string or address_id")

    for name in _SHORT_FIELDS:
        value = single.get(name)
        if value is not None:
            if len(value) > MAX_FIELD:
                bad(f"{name} must be at most {MAX_FIELD} characters")
            elif _CONTROL.search(value):
                bad(f"{name} must not contain control characters")
    email = single.get("email")
    if email is not None and not _EMAIL.fullmatch(email):
        bad("email must be an email address")
    phone = single.get("phone")
    if phone is not None and not _PHONE.fullmatch(phone):
        bad("phone must be a telephone number (digits, spaces, + - ( ) .)")
    media_url = single.get("media_url")
    if media_url is not None:
        parts = urlsplit(media_url)
        if len(media_url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.netloc:
            bad("media_url must be an http or https URL")

    description = single.get("description")
    if description is not None:
        problem = _free_text_problem(description, "description", MAX_DESCRIPTION)
        if problem:
            bad(problem)

    attributes = _check_attributes(pairs, service, errors)
    if errors:
        raise Open311Error.combined(errors)
    return NewRequest(
        service_code=code,
        lat=lat,
        long=long,
        address_string=single.get("address_string"),
        address_id=single.get("address_id"),
        email=email,
        device_id=single.get("device_id"),
        account_id=single.get("account_id"),
        first_name=single.get("first_name"),
        last_name=single.get("last_name"),
        phone=phone,
        description=description,
        media_url=media_url,
        attributes=attributes,
    )


def _check_attributes(
    pairs: Sequence[tuple[str, str]], service: Service, errors: list[Open311Error]
) -> dict[str, list[str]]:
    """The service's attribute values from the form; problems are appended to errors."""
    sent: dict[str, list[str]] = {}
    for key, value in pairs:
        match = _ATTRIBUTE_KEY.fullmatch(key)
        if match and value.strip():
            sent.setdefault(match.group(1), []).append(value.strip())
    accepted: dict[str, list[str]] = {}
    for attribute in sorted(service.attributes, key=lambda a: a.order):
        if not attribute.variable:
            continue
        label = f"attribute[{attribute.code}]"
        values = sent.get(attribute.code, [])
        if not values:
            if attribute.required:
                errors.append(Open311Error(400, f"{label} is required"))
            continue
        if attribute.datatype == "multivaluelist":
            values = list(dict.fromkeys(values))
        elif len(values) > 1:
            errors.append(Open311Error(400, f"{label} takes one value"))
            continue
        problem = _attribute_problem(attribute, label, values)
        if problem:
            errors.append(Open311Error(400, problem))
            continue
        if attribute.datatype == "datetime":
            values = [format_datetime(parse_datetime(values[0], label))]
        accepted[attribute.code] = values
    return accepted


def _attribute_problem(attribute: ServiceAttribute, label: str, values: list[str]) -> str | None:
    """What is wrong with an attribute's values, or None."""
    if attribute.datatype in LIST_DATATYPES:
        keys = attribute.keys
        if any(value not in keys for value in values):
            return f"{label} must be one of: {', '.join(keys)}"
        return None
    value = values[0]
    if attribute.datatype == "number":
        return None if _number(value) is not None else f"{label} must be a number"
    if attribute.datatype == "datetime":
        try:
            parse_datetime(value, label)
        except Open311Error as error:
            return error.description
        return None
    if attribute.datatype == "string" and ("\n" in value or "\r" in value):
        return f"{label} must be a single line"
    limit = MAX_DESCRIPTION if attribute.datatype == "text" else MAX_FIELD
    return _free_text_problem(value, label, limit)


def _free_text_problem(value: str, name: str, limit: int) -> str | None:
    """Length, control characters and HTML (the spec: "not html or code")."""
    if len(value) > limit:
        return f"{name} must be at most {limit} characters"
    if _CONTROL.search(value):
        return f"{name} must not contain control characters"
    if _HTML.search(value):
        return f"HTML is not allowed in {name}"
    return None


def _pairs(form: Mapping[str, list[str]] | Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The form as (name, value) pairs in order."""
    if isinstance(form, Mapping):
        out: list[tuple[str, str]] = []
        for key, values in form.items():
            if isinstance(values, str):
                out.append((key, values))
            else:
                out.extend((key, value) for value in values)
        return out
    return [(key, value) for key, value in form]


def _first_values(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Each name's first non-empty value, trimmed."""
    out: dict[str, str] = {}
    for key, value in pairs:
        text = value.strip()
        if text and key not in out:
            out[key] = text
    return out


def _number(text: str) -> float | None:
    """A finite decimal number, or None."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


# --- parsing a query (GET requests) ----------------------------------------------------------


@dataclass(frozen=True)
class RequestQuery:
    """A validated GET requests query (with ids, the rest is empty and the dates None)."""

    # The spec: service_request_id "overrides all other arguments". Without ids, both dates
    # are set (the window to search).

    service_request_ids: tuple[str, ...]
    service_codes: tuple[str, ...]
    start_date: datetime | None
    end_date: datetime | None
    statuses: tuple[str, ...]


def parse_request_query(params: Mapping[str, str], now: datetime) -> RequestQuery:
    """Check GET requests arguments; Open311Error(400) for bad dates, spans or statuses."""
    # Dates: neither given → the 90 days up to now; start_date only → 90 days from it;
    # end_date only → the 90 days up to it; both → at most 90 days apart, end not before start.
    ids = _csv(params.get("service_request_id"))
    if ids:
        return RequestQuery(ids, (), None, None, ())
    statuses = tuple(s.lower() for s in _csv(params.get("status")))
    if any(status not in STATUSES for status in statuses):
        raise Open311Error(400, "status must be open, closed or open,closed")
    start, end = parse_update_window(params, now)
    return RequestQuery(
        service_request_ids=(),
        service_codes=_csv(params.get("service_code")),
        start_date=start,
        end_date=end,
        statuses=tuple(dict.fromkeys(statuses)),
    )


def parse_update_window(params: Mapping[str, str], now: datetime) -> tuple[datetime, datetime]:
    """start_date and end_date (GET requests, GET servicerequestupdates) with their defaults."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    start_text = (params.get("start_date") or "").strip()
    end_text = (params.get("end_date") or "").strip()
    start = parse_datetime(start_text, "start_date") if start_text else None
    end = parse_datetime(end_text, "end_date") if end_text else None
    if start is None and end is None:
        end = now.astimezone(VN_TZ)
        start = end - MAX_SPAN
    elif start is None:
        assert end is not None
        start = end - MAX_SPAN
    elif end is None:
        end = start + MAX_SPAN
    if end < start:
        raise Open311Error(400, "end_date must not be before start_date")
    if end - start > MAX_SPAN:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    return start, end


def _csv(value: str | None) -> tuple[str, ...]:
    """A comma-separated argument's non-empty items, trimmed, without repeats."""
    if not value:
        return ()
    return tuple(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))


# --- rendering -------------------------------------------------------------------------------


def _render(root: str, body: list[Any] | dict[str, Any], fmt: str) -> tuple[bytes, str]:
    """The body as JSON (root dropped) or as XML under <root>."""
    if fmt == "json":
        text = json.dumps(_jsonable(body), ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8"), MEDIA_TYPES["json"]
    if fmt == "xml":
        element = ET.Element(root)
        _fill(element, root, body)
        text = ET.tostring(element, encoding="unicode")
        return _XML_DECLARATION + text.encode("utf-8"), MEDIA_TYPES["xml"]
    raise ValueError(f"unknown Open311 format {fmt!r}")


def _jsonable(value: Any) -> Any:
    """Date-times as text, containers walked."""
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _fill(element: ET.Element, name: str, value: Any) -> None:
    """Put value into element: mappings as children, lists as repeated items."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            _fill(ET.SubElement(element, str(key)), str(key), child)
    elif isinstance(value, list | tuple):
        item = _ITEM_NAMES[name]
        for child in value:
            _fill(ET.SubElement(element, item), item, child)
    elif value is not None:
        element.text = _xml_text(value)


def _xml_text(value: Any) -> str:
    """A scalar as XML text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    return _XML_ILLEGAL.sub("", str(value))
