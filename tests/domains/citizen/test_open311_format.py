"""The Open311 GeoReport v2 wire format (open311.py) and the seed catalogue (catalogue.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode
from xml.etree.ElementTree import Element

import pytest
from defusedxml.ElementTree import fromstring

from smartcity.domains.citizen import open311
from smartcity.domains.citizen.catalogue import (
    CATALOGUE,
    DEPARTMENT_CODES,
    find_entry,
    to_service,
)
from smartcity.domains.citizen.open311 import Open311Error, Service, ServiceAttribute

NOW = datetime(2026, 12, 4, 7, 5, tzinfo=UTC)  # 14:05 in Cần Thơ

SIZE = ServiceAttribute(
    code="size",
    datatype="singlevaluelist",
    required=True,
    description="Kích thước",
    order=2,
    values=(("small", "Nhỏ"), ("large", "Lớn")),
)
KINDS = ServiceAttribute(
    code="kinds",
    datatype="multivaluelist",
    required=False,
    description="Loại",
    order=1,
    values=(("a", "A"), ("b", "B"), ("c", "C")),
)
WIDTH = ServiceAttribute(
    code="width", datatype="number", required=False, description="Rộng (m)", order=3
)
SEEN = ServiceAttribute(
    code="seen", datatype="datetime", required=False, description="Lúc", order=4
)
NOTE = ServiceAttribute(
    code="note", datatype="string", required=False, description="Ghi chú", order=5
)
INFO = ServiceAttribute(
    code="info", datatype="text", required=True, description="Chỉ để đọc", order=6, variable=False
)
POTHOLE = Service(
    service_code="pothole",
    service_name="Ổ gà",
    description="Ổ gà trên mặt đường",
    group="Giao thông",
    keywords=("ổ gà", "mặt đường"),
    metadata=True,
    attributes=(SIZE, KINDS, WIDTH, SEEN, NOTE, INFO),
)
OTHER = Service(
    service_code="other",
    service_name="Khác",
    description="Phản ánh khác",
    group="Khác",
    keywords=(),
    metadata=False,
)


def xml(body: bytes) -> Element:
    """The parsed document, after checking the declaration."""
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root: Element = fromstring(body)
    return root


def tags(element: Element) -> list[str]:
    return [child.tag for child in element]


def form(**fields: str) -> list[tuple[str, str]]:
    """A form as parse_qsl gives it (attribute keys passed via extra pairs)."""
    return list(fields.items())


def raises(form_pairs: Any, service: Service | None = POTHOLE) -> Open311Error:
    with pytest.raises(Open311Error) as caught:
        open311.parse_new_request(form_pairs, service)
    return caught.value


# --- date-times ------------------------------------------------------------------------------


def test_format_datetime_is_at_plus_seven_to_the_second() -> None:
    moment = datetime(2026, 12, 4, 7, 5, 0, 123456, tzinfo=UTC)
    assert open311.format_datetime(moment) == "2026-12-04T14:05:00+07:00"
    other = datetime(2026, 12, 4, 2, 5, tzinfo=timezone(timedelta(hours=-5)))
    assert open311.format_datetime(other) == "2026-12-04T14:05:00+07:00"
    with pytest.raises(ValueError):
        open311.format_datetime(datetime(2026, 12, 4, 14, 5))


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-04T07:05:00Z",
        "2026-12-04T14:05:00+07:00",
        "2026-12-04T02:05:00-05:00",
        "2026-12-04T14:05+07:00",
        "2026-12-04T14:05:00.000+07:00",
        "2026-12-04T14:05:00 07:00",  # "+" decoded as a space from an unencoded query
    ],
)
def test_parse_datetime_accepts_iso_8601_with_an_offset(text: str) -> None:
    parsed = open311.parse_datetime(text, "start_date")
    assert parsed == NOW
    assert parsed.utcoffset() == timedelta(hours=7)


@pytest.mark.parametrize(
    "text", ["2026-12-04T14:05:00", "2026-12-04", "yesterday", "", "2026-13-01T00:00:00Z"]
)
def test_parse_datetime_refuses_without_offset_or_garbage(text: str) -> None:
    with pytest.raises(Open311Error) as caught:
        open311.parse_datetime(text, "end_date")
    assert caught.value.status == 400
    assert caught.value.description.startswith("end_date must be an ISO 8601 date-time")


# --- errors and formats ----------------------------------------------------------------------


def test_error_body_json_is_the_spec_array() -> None:
    body, media_type = open311.error_body(
        [Open311Error(400, "lat must be a number between -90 and 90"), Open311Error(403, "no")],
        "json",
    )
    assert media_type == "application/json; charset=utf-8"
    assert json.loads(body) == [
        {"code": 400, "description": "lat must be a number between -90 and 90"},
        {"code": 403, "description": "no"},
    ]


def test_error_body_xml_and_fallback() -> None:
    error = Open311Error(404, "service_code 'x' not found")
    assert (error.status, error.code, error.errors) == (404, 404, (error,))
    for fmt in ("xml", "html"):  # XML is the required format: the fallback
        body, media_type = open311.error_body([error], fmt)
        assert media_type == "text/xml; charset=utf-8"
        root = xml(body)
        assert root.tag == "errors"
        assert tags(root) == ["error"]
        assert tags(root[0]) == ["code", "description"]
        assert root.findtext("error/code") == "404"
        assert root.findtext("error/description") == "service_code 'x' not found"


def test_error_code_may_differ_from_status() -> None:
    error = Open311Error(400, "bad", code=4001)
    assert (error.status, error.code) == (400, 4001)
    with pytest.raises(ValueError):
        Open311Error(200, "fine")


@pytest.mark.parametrize(("suffix", "fmt"), [(".json", "json"), (".xml", "xml"), ("xml", "xml")])
def test_format_of(suffix: str, fmt: str) -> None:
    assert open311.format_of(suffix) == fmt


@pytest.mark.parametrize(("suffix", "status"), [("", 400), (".", 400), (".html", 404)])
def test_format_of_bad_suffix(suffix: str, status: int) -> None:
    with pytest.raises(Open311Error) as caught:
        open311.format_of(suffix)
    assert caught.value.status == status


def test_unknown_format_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        open311.render_services([POTHOLE], "csv")


# --- services --------------------------------------------------------------------------------


def test_render_services_json() -> None:
    body, media_type = open311.render_services([POTHOLE, OTHER], "json")
    assert media_type == "application/json; charset=utf-8"
    assert "Ổ gà".encode() in body  # UTF-8, not \u escapes
    data = json.loads(body)
    assert data[0] == {
        "service_code": "pothole",
        "service_name": "Ổ gà",
        "description": "Ổ gà trên mặt đường",
        "metadata": True,
        "type": "realtime",
        "keywords": "ổ gà, mặt đường",
        "group": "Giao thông",
    }
    assert data[1]["metadata"] is False
    assert data[1]["keywords"] == ""


def test_render_services_xml() -> None:
    body, media_type = open311.render_services([POTHOLE, OTHER], "xml")
    assert media_type == "text/xml; charset=utf-8"
    root = xml(body)
    assert root.tag == "services"
    assert tags(root) == ["service", "service"]
    first = root[0]
    assert tags(first) == [
        "service_code", "service_name", "description", "metadata", "type", "keywords", "group",
    ]  # fmt: skip
    assert first.findtext("service_name") == "Ổ gà"
    assert first.findtext("metadata") == "true"
    assert root[1].findtext("metadata") == "false"


def test_render_service_definition_json() -> None:
    data = json.loads(open311.render_service_definition(POTHOLE, "json")[0])
    assert data["service_code"] == "pothole"
    codes = [a["code"] for a in data["attributes"]]
    assert codes == ["kinds", "size", "width", "seen", "note", "info"]  # by order
    size = data["attributes"][1]
    assert size == {
        "variable": True,
        "code": "size",
        "datatype": "singlevaluelist",
        "required": True,
        "datatype_description": None,
        "order": 2,
        "description": "Kích thước",
        "values": [{"key": "small", "name": "Nhỏ"}, {"key": "large", "name": "Lớn"}],
    }
    assert "values" not in data["attributes"][2]  # number: no value list
    assert data["attributes"][5]["variable"] is False


def test_render_service_definition_xml() -> None:
    root = xml(open311.render_service_definition(POTHOLE, "xml")[0])
    assert root.tag == "service_definition"
    assert tags(root) == ["service_code", "attributes"]
    attributes = root.find("attributes")
    assert attributes is not None
    assert set(tags(attributes)) == {"attribute"}
    size = attributes[1]
    assert tags(size)[:7] == [
        "variable", "code", "datatype", "required", "datatype_description", "order",
        "description",
    ]  # fmt: skip
    assert size.findtext("datatype_description") == ""
    assert [v.findtext("key") for v in size.iterfind("values/value")] == ["small", "large"]
    assert [v.findtext("name") for v in size.iterfind("values/value")] == ["Nhỏ", "Lớn"]


def test_bad_datatype_or_type_is_refused() -> None:
    with pytest.raises(ValueError):
        ServiceAttribute(code="x", datatype="boolean", required=False, description="", order=1)
    with pytest.raises(ValueError):
        Service("x", "x", "x", "x", (), False, type="instant")


# --- service requests ------------------------------------------------------------------------

REQUEST: dict[str, Any] = {
    "service_request_id": "638344",
    "status": "closed",
    "status_notes": "Đã vá xong.",
    "service_name": "Ổ gà",
    "service_code": "pothole",
    "description": "Ổ gà lớn trước số 12",
    "agency_responsible": "SXD",
    "service_notice": None,
    "requested_datetime": datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
    "updated_datetime": datetime(2026, 12, 4, 7, 5, tzinfo=UTC),
    "expected_datetime": None,
    "address": "12 Đường 30/4, Ninh Kiều, Cần Thơ",
    "address_id": None,
    "zipcode": None,
    "lat": 10.0341,
    "long": 105.7721,
    "media_url": "https://cantho.example/media/1.jpg",
    "internal": "never shown",
}


def test_render_requests_json() -> None:
    data = json.loads(open311.render_requests([REQUEST], "json")[0])
    assert len(data) == 1
    item = data[0]
    assert list(item) == list(open311.REQUEST_FIELDS)
    assert item["requested_datetime"] == "2026-12-01T08:00:00+07:00"
    assert item["updated_datetime"] == "2026-12-04T14:05:00+07:00"
    assert item["expected_datetime"] is None
    assert item["service_notice"] is None
    assert (item["lat"], item["long"]) == (10.0341, 105.7721)
    assert "internal" not in item


def test_render_requests_xml() -> None:
    root = xml(open311.render_requests([REQUEST, {**REQUEST, "status": "open"}], "xml")[0])
    assert root.tag == "service_requests"
    assert tags(root) == ["request", "request"]
    request = root[0]
    assert tags(request) == list(open311.REQUEST_FIELDS)
    assert request.findtext("requested_datetime") == "2026-12-01T08:00:00+07:00"
    assert request.findtext("expected_datetime") == ""  # absent: an empty element
    assert request.findtext("address") == "12 Đường 30/4, Ninh Kiều, Cần Thơ"
    assert request.findtext("lat") == "10.0341"
    assert root[1].findtext("status") == "open"


def test_render_requests_refuses_a_status_outside_the_spec() -> None:
    with pytest.raises(ValueError):
        open311.render_requests([{**REQUEST, "status": "in_progress"}], "json")


def test_xml_drops_characters_xml_cannot_carry() -> None:
    root = xml(open311.render_requests([{**REQUEST, "description": "a\x00b\x1fc"}], "xml")[0])
    assert root.findtext("request/description") == "abc"


def test_render_created() -> None:
    items: list[dict[str, Any]] = [
        {"service_request_id": "42", "token": "secret", "service_notice": None},
        {"token": "abc", "service_notice": "Sẽ xử lý trong 5 ngày làm việc", "account_id": "7"},
    ]
    data = json.loads(open311.render_created(items, "json")[0])
    assert data == [
        {"service_request_id": "42", "service_notice": None, "account_id": None},
        {"token": "abc", "service_notice": "Sẽ xử lý trong 5 ngày làm việc", "account_id": "7"},
    ]
    root = xml(open311.render_created(items, "xml")[0])
    assert root.tag == "service_requests"
    assert tags(root[0]) == ["service_request_id", "service_notice", "account_id"]
    assert tags(root[1]) == ["token", "service_notice", "account_id"]


def test_render_tokens() -> None:
    items: list[dict[str, Any]] = [
        {"service_request_id": "42", "token": "abc"},
        {"service_request_id": None, "token": "x"},
    ]
    data = json.loads(open311.render_tokens(items, "json")[0])
    assert data == items
    root = xml(open311.render_tokens(items, "xml")[0])
    assert root.tag == "service_requests"
    assert tags(root[0]) == ["service_request_id", "token"]


def test_render_updates_mysociety_extension() -> None:
    update = {
        "update_id": "9",
        "service_request_id": "42",
        "status": "closed",
        "updated_datetime": NOW,
        "description": "Đã xử lý",
        "media_url": None,
    }
    data = json.loads(open311.render_updates([update], "json")[0])
    assert data == [{**update, "updated_datetime": "2026-12-04T14:05:00+07:00"}]
    root = xml(open311.render_updates([update], "xml")[0])
    assert root.tag == "service_request_updates"
    assert tags(root) == ["request_update"]
    assert tags(root[0]) == list(open311.UPDATE_FIELDS)
    assert root.findtext("request_update/updated_datetime") == "2026-12-04T14:05:00+07:00"


def test_render_discovery() -> None:
    args = ("https://cantho.example/open311/v2", NOW, "ioc@cantho.example", "Xin khóa API")
    data = json.loads(open311.render_discovery(args[0], "json", *args[1:])[0])
    assert data == {
        "changeset": "2026-12-04T14:05:00+07:00",
        "contact": "ioc@cantho.example",
        "key_service": "Xin khóa API",
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": "https://cantho.example/open311/v2",
                "changeset": "2026-12-04T14:05:00+07:00",
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    root = xml(open311.render_discovery(args[0], "xml", *args[1:])[0])
    assert root.tag == "discovery"
    assert tags(root) == ["changeset", "contact", "key_service", "endpoints"]
    assert [f.text for f in root.iterfind("endpoints/endpoint/formats/format")] == [
        "text/xml",
        "application/json",
    ]


# --- POST requests ---------------------------------------------------------------------------

GOOD = [
    ("api_key", "k"),
    ("service_code", "pothole"),
    ("lat", "10.0341"),
    ("long", "105.7721"),
    ("description", "Ổ gà lớn,\nnguy hiểm khi trời mưa"),
    ("email", "dan@example.vn"),
    ("phone", "+84 292 3820 000"),
    ("first_name", "Minh"),
    ("last_name", "Nguyễn"),
    ("media_url", "https://example.vn/a.jpg"),
    ("attribute[size]", "large"),
]


def test_parse_new_request_from_pairs() -> None:
    new = open311.parse_new_request(GOOD, POTHOLE)
    assert new.service_code == "pothole"
    assert (new.lat, new.long) == (10.0341, 105.7721)
    assert new.description == "Ổ gà lớn,\nnguy hiểm khi trời mưa"
    assert (new.email, new.phone, new.first_name, new.last_name) == (
        "dan@example.vn", "+84 292 3820 000", "Minh", "Nguyễn",
    )  # fmt: skip
    assert new.media_url == "https://example.vn/a.jpg"
    assert new.address_string is None and new.device_id is None
    assert new.attributes == {"size": ["large"]}


def test_parse_new_request_from_an_encoded_body() -> None:
    body = urlencode(
        [*GOOD, ("attribute[kinds][]", "a"), ("attribute[kinds][]", "c"),
         ("attribute[kinds][]", "a"), ("attribute[width]", "1.5"),
         ("attribute[seen]", "2026-12-04T07:05:00Z"), ("attribute[note]", "gần chợ"),
         ("attribute[info]", "ignored"), ("attribute[unknown]", "dropped")]
    )  # fmt: skip
    for parsed in (parse_qs(body), parse_qsl(body)):
        new = open311.parse_new_request(parsed, POTHOLE)
        assert new.attributes == {
            "kinds": ["a", "c"],
            "size": ["large"],
            "width": ["1.5"],
            "seen": ["2026-12-04T14:05:00+07:00"],
            "note": ["gần chợ"],
        }


@pytest.mark.parametrize(
    "location",
    [{"address_string": "Bến Ninh Kiều, Cần Thơ"}, {"address_id": "NK-0012"}],
)
def test_an_address_is_a_location(location: dict[str, str]) -> None:
    new = open311.parse_new_request(form(service_code="other", **location), OTHER)
    assert new.lat is None and new.long is None
    assert (new.address_string or new.address_id) in location.values()
    assert new.attributes == {}


def test_missing_service_code() -> None:
    error = raises(form(lat="10", long="105"))
    assert (error.status, error.description) == (400, "service_code is required")
    assert raises(form(service_code="  ", lat="10", long="105")).status == 400


def test_unknown_service_code() -> None:
    error = raises(form(service_code="ufo", lat="10", long="105"), None)
    assert (error.status, error.code) == (404, 404)
    assert error.description == "service_code 'ufo' not found"


BASE = [("service_code", "pothole"), ("attribute[size]", "small")]


@pytest.mark.parametrize(
    ("extra", "description"),
    [
        ([], "location required: send lat and long, address_string or address_id"),
        ([("lat", ""), ("long", "")],
         "location required: send lat and long, address_string or address_id"),
        ([("lat", "91"), ("long", "105")], "lat must be a number between -90 and 90"),
        ([("lat", "-90.5"), ("long", "105")], "lat must be a number between -90 and 90"),
        ([("lat", "10"), ("long", "east")], "long must be a number between -180 and 180"),
        ([("lat", "10"), ("long", "nan")], "long must be a number between -180 and 180"),
        ([("lat", "10"), ("long", "180.1")], "long must be a number between -180 and 180"),
        ([("lat", "10,03"), ("long", "105")], "lat must be a number between -90 and 90"),
        ([("lat", "10")], "lat and long must be sent together"),
        ([("address_id", "x"), ("description", "Ổ gà <b>rất</b> to")],
         "HTML is not allowed in description"),
        ([("address_id", "x"), ("description", "<script>alert(1)</script>")],
         "HTML is not allowed in description"),
        ([("address_id", "x"), ("description", "xem <!-- ẩn -->")],
         "HTML is not allowed in description"),
        ([("address_id", "x"), ("description", "x" * 4001)],
         "description must be at most 4000 characters"),
        ([("address_id", "x"), ("description", "a\x00b")],
         "description must not contain control characters"),
        ([("address_id", "x"), ("email", "not-an-email")], "email must be an email address"),
        ([("address_id", "x"), ("phone", "call me")],
         "phone must be a telephone number (digits, spaces, + - ( ) .)"),
        ([("address_id", "x"), ("media_url", "javascript:alert(1)")],
         "media_url must be an http or https URL"),
        ([("address_id", "x"), ("first_name", "x" * 256)],
         "first_name must be at most 255 characters"),
    ],
)  # fmt: skip
def test_bad_post_fields(extra: list[tuple[str, str]], description: str) -> None:
    error = raises([*BASE, *extra])
    assert (error.status, error.description) == (400, description)


def test_html_check_spares_plain_comparisons() -> None:
    text = "Nước ngập < 10 cm nhưng > 5 cm, <3 Cần Thơ"
    new = open311.parse_new_request([*BASE, ("address_id", "x"), ("description", text)], POTHOLE)
    assert new.description == text


WHERE = [("service_code", "pothole"), ("address_id", "x")]


@pytest.mark.parametrize(
    ("attributes", "description"),
    [
        ([], "attribute[size] is required"),
        ([("attribute[size]", "")], "attribute[size] is required"),
        ([("attribute[size]", "huge")], "attribute[size] must be one of: small, large"),
        ([("attribute[size][]", "small"), ("attribute[size][]", "large")],
         "attribute[size] takes one value"),
        ([("attribute[size]", "small"), ("attribute[kinds][]", "a"), ("attribute[kinds][]", "z")],
         "attribute[kinds] must be one of: a, b, c"),
        ([("attribute[size]", "small"), ("attribute[width]", "wide")],
         "attribute[width] must be a number"),
        ([("attribute[size]", "small"), ("attribute[seen]", "2026-12-04")],
         "attribute[seen] must be an ISO 8601 date-time with an offset, "
         "e.g. 2026-12-04T14:05:00+07:00"),
        ([("attribute[size]", "small"), ("attribute[note]", "hai\ndòng")],
         "attribute[note] must be a single line"),
        ([("attribute[size]", "small"), ("attribute[note]", "<i>x</i>")],
         "HTML is not allowed in attribute[note]"),
    ],
)  # fmt: skip
def test_bad_attributes(attributes: list[tuple[str, str]], description: str) -> None:
    error = raises([*WHERE, *attributes])
    assert (error.status, error.description) == (400, description)


def test_every_problem_is_reported_at_once() -> None:
    error = raises(
        [("service_code", "pothole"), ("lat", "100"), ("long", "x"), ("description", "<p>")]
    )
    assert [e.description for e in error.errors] == [
        "lat must be a number between -90 and 90",
        "long must be a number between -180 and 180",
        "HTML is not allowed in description",
        "attribute[size] is required",
    ]
    assert error.errors[0] is error
    body = json.loads(open311.error_body(error.errors, "json")[0])
    assert len(body) == 4


def test_service_without_metadata_ignores_attributes() -> None:
    new = open311.parse_new_request(
        [("service_code", "other"), ("address_id", "x"), ("attribute[size]", "huge")], OTHER
    )
    assert new.attributes == {}


# --- GET requests query ----------------------------------------------------------------------


def test_query_defaults_to_the_last_90_days() -> None:
    query = open311.parse_request_query({}, NOW)
    assert query.end_date == NOW and query.start_date == NOW - timedelta(days=90)
    assert query.end_date is not None and query.end_date.utcoffset() == timedelta(hours=7)
    assert (query.service_request_ids, query.service_codes, query.statuses) == ((), (), ())


def test_query_lists_and_dates() -> None:
    query = open311.parse_request_query(
        {
            "service_code": "pothole, flooded-street,,pothole",
            "status": "open,CLOSED",
            "start_date": "2026-10-01T00:00:00+07:00",
            "end_date": "2026-12-01T00:00:00Z",
            "jurisdiction_id": "cantho.gov.vn",
        },
        NOW,
    )
    assert query.service_codes == ("pothole", "flooded-street")
    assert query.statuses == ("open", "closed")
    assert query.start_date == datetime(2026, 9, 30, 17, tzinfo=UTC)
    assert query.end_date == datetime(2026, 12, 1, tzinfo=UTC)


def test_service_request_id_overrides_everything() -> None:
    query = open311.parse_request_query(
        {"service_request_id": "1, 2,3", "status": "bogus", "start_date": "garbage"}, NOW
    )
    assert query == open311.RequestQuery(("1", "2", "3"), (), None, None, ())


def test_one_date_opens_a_90_day_window() -> None:
    start = open311.parse_request_query({"start_date": "2026-01-01T00:00:00Z"}, NOW)
    assert start.end_date == datetime(2026, 4, 1, tzinfo=UTC)
    end = open311.parse_request_query({"end_date": "2026-04-01T00:00:00Z"}, NOW)
    assert end.start_date == datetime(2026, 1, 1, tzinfo=UTC)


def test_exactly_90_days_is_allowed() -> None:
    query = open311.parse_request_query(
        {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-04-01T00:00:00Z"}, NOW
    )
    assert query.end_date is not None and query.start_date is not None
    assert query.end_date - query.start_date == timedelta(days=90)


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-04-01T00:00:01Z"},
         "start_date and end_date may not span more than 90 days"),
        ({"start_date": "2026-04-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"},
         "end_date must not be before start_date"),
        ({"status": "open,pending"}, "status must be open, closed or open,closed"),
        ({"start_date": "2026-01-01"},
         "start_date must be an ISO 8601 date-time with an offset, e.g. 2026-12-04T14:05:00+07:00"),
    ],
)  # fmt: skip
def test_bad_queries(params: dict[str, str], description: str) -> None:
    with pytest.raises(Open311Error) as caught:
        open311.parse_request_query(params, NOW)
    assert (caught.value.status, caught.value.description) == (400, description)


def test_query_needs_an_aware_now() -> None:
    with pytest.raises(ValueError):
        open311.parse_request_query({}, datetime(2026, 12, 4))


# --- the catalogue ---------------------------------------------------------------------------


def test_catalogue_codes_departments_and_deadlines() -> None:
    from smartcity.core.auth.seed import CAN_THO_DEPARTMENTS

    codes = [e.service_code for e in CATALOGUE]
    assert len(codes) == len(set(codes)) >= 12
    assert set(DEPARTMENT_CODES) == {d[0] for d in CAN_THO_DEPARTMENTS}
    for entry in CATALOGUE:
        assert entry.department in DEPARTMENT_CODES
        assert 1 <= entry.sla_days <= 10
        assert entry.name_vi and entry.name_en and entry.group and entry.group_en
        assert entry.keywords and entry.keywords_en
        assert [a.code for a in entry.attributes] == [a.code for a in entry.attributes_en]
        assert [a.keys for a in entry.attributes] == [a.keys for a in entry.attributes_en]
    assert find_entry("streetlight-broken") is not None
    assert find_entry("streetlight-broken").linked_type == "Streetlight"  # type: ignore[union-attr]
    assert find_entry("flooded-street").linked_type == "FloodMonitoring"  # type: ignore[union-attr]
    assert find_entry("nope") is None


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.service_code)
def test_every_entry_renders_and_accepts_a_report(entry: Any) -> None:
    for lang in ("vi", "en"):
        service = to_service(entry, lang)
        assert service.metadata == bool(service.attributes)
        for fmt in ("json", "xml"):
            body, _ = open311.render_services([service], fmt)
            definition, _ = open311.render_service_definition(service, fmt)
            if fmt == "xml":
                assert xml(body).findtext("service/service_code") == entry.service_code
                assert xml(definition).tag == "service_definition"
            else:
                assert json.loads(body)[0]["service_name"] == service.service_name
                assert len(json.loads(definition)["attributes"]) == len(service.attributes)
    service = to_service(entry)
    pairs = [("service_code", entry.service_code), ("lat", "10.03"), ("long", "105.78")]
    for attribute in service.attributes:
        if attribute.required:
            pairs.append((f"attribute[{attribute.code}]", attribute.keys[0]))
    new = open311.parse_new_request(pairs, service)
    assert new.service_code == entry.service_code


def test_to_service_languages() -> None:
    pothole = find_entry("pothole")
    assert pothole is not None
    vi, en = to_service(pothole), to_service(pothole, "en")
    assert (vi.service_name, vi.group) == (pothole.name_vi, "Giao thông")
    assert (en.service_name, en.group) == ("Pothole or damaged road surface", "Transport")
    assert en.attributes[0].values[0] == ("small", "Small (under 30 cm)")
    with pytest.raises(ValueError):
        to_service(pothole, "fr")
