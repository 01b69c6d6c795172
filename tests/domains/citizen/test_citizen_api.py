"""Citizen reports end to end over the public APIs, on SQLite and PostgreSQL: Open311 in JSON
and XML with every error case, photos cleaned, the department's queue and work, the citizen's
notifications and rating, the indicators, the IOC alert and map."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from defusedxml import ElementTree
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from smartcity.app import create_app
from smartcity.config import Settings
from smartcity.core.auth.audit import AuditFilter
from smartcity.core.auth.seed import seed_departments
from smartcity.core.db import Database
from smartcity.domains.citizen import photos
from tests.core.auth.support import add_user, bearer, cheap_hashing, sign_in

BASE = "/open311/v2"
# Hai Bà Trưng street by Ninh Kiều wharf.
LAT, LONG = 10.0330, 105.7872


@pytest.fixture
def citizen_app(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    cheap_hashing(monkeypatch)
    settings = Settings(data_dir=tmp_path, leader_retry_s=0.2, citizen_reports_per_hour=10)
    return create_app(settings, database=database)


@pytest.fixture
def http(citizen_app: FastAPI) -> Iterator[TestClient]:
    """An anonymous client (each test signs people in as it needs)."""
    seed_departments(citizen_app.state.auth.service)
    add_user(citizen_app, "citizen.lan", "citizen", email="lan@example.vn")
    add_user(citizen_app, "officer.sxd", "officer", departments=["SXD"])
    add_user(citizen_app, "officer.env", "officer", departments=["SNNMT"])
    add_user(citizen_app, "operator.ioc", "operator")
    with TestClient(citizen_app) as client:
        yield client


def who(http: TestClient, username: str) -> dict[str, str]:
    """Bearer headers of a signed-in user."""
    return bearer(sign_in(http, username)["access_token"])


def phone_photo(gps: bool = True) -> bytes:
    """A JPEG as a phone takes it: with the place it was taken in its EXIF."""
    image = Image.new("RGB", (2400, 1800), (120, 90, 60))
    exif = Image.Exif()
    if gps:
        gps_ifd = exif.get_ifd(0x8825)
        gps_ifd[1], gps_ifd[2] = "N", (10.0, 2.0, 0.0)
        gps_ifd[3], gps_ifd[4] = "E", (105.0, 47.0, 0.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def file_report(
    http: TestClient,
    headers: dict[str, str] | None = None,
    *,
    code: str = "pothole",
    fmt: str = "json",
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
    **fields: str,
) -> Any:
    """POST requests.{fmt}; the response."""
    form = {
        "service_code": code,
        "lat": str(LAT),
        "long": str(LONG),
        "description": "Ổ gà lớn giữa đường, xe máy dễ ngã",
        "device_id": "phone-1",
        **fields,
    }
    if code == "pothole" and "attribute[size]" not in fields:
        form["attribute[size]"] = "large"
    return http.post(f"{BASE}/requests.{fmt}", data=form, files=files, headers=headers or {})


def test_services_in_json_and_xml(http: TestClient) -> None:
    services = http.get(f"{BASE}/services.json").json()
    codes = {s["service_code"] for s in services}
    assert {"pothole", "flooded-street", "streetlight-broken", "waste-uncollected"} <= codes
    pothole = next(s for s in services if s["service_code"] == "pothole")
    assert pothole["service_name"] == "Ổ gà, hư hỏng mặt đường" or pothole["service_name"]
    xml = ElementTree.fromstring(http.get(f"{BASE}/services.xml").content)
    assert xml.tag == "services" and xml.find("service/service_code") is not None
    definition = http.get(f"{BASE}/services/pothole.json").json()
    assert definition["service_code"] == "pothole" and definition["attributes"]
    english = http.get(f"{BASE}/services.json?locale=en").json()
    assert any(s["service_name"].lower().startswith("pothole") for s in english)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_every_error_is_the_spec_error_array(http: TestClient, fmt: str) -> None:
    def errors(response: Any) -> list[tuple[str, str]]:
        if fmt == "json":
            return [(str(e["code"]), e["description"]) for e in response.json()]
        root = ElementTree.fromstring(response.content)
        assert root.tag == "errors"
        return [(e.findtext("code") or "", e.findtext("description") or "") for e in root]

    missing_location = file_report(http, fmt=fmt, lat="", long="")
    assert missing_location.status_code == 400
    assert "location" in errors(missing_location)[0][1].lower()
    unknown = file_report(http, code="no-such-thing", fmt=fmt)
    assert unknown.status_code in (400, 404) and errors(unknown)[0][0] == str(unknown.status_code)
    bad_key = file_report(http, fmt=fmt, api_key="sck_not-a-key")
    assert bad_key.status_code == 403 and "api_key" in errors(bad_key)[0][1]
    html = file_report(http, fmt=fmt, description="<script>alert(1)</script> ổ gà")
    assert html.status_code == 400 and "HTML" in errors(html)[0][1]
    text_file = [("media", ("photo.jpg", b"this is not a photo", "image/jpeg"))]
    not_image = file_report(http, fmt=fmt, files=text_file)
    assert not_image.status_code == 400
    huge = [
        ("media", ("big.jpg", b"\xff\xd8\xff" + b"0" * (photos.MAX_UPLOAD_BYTES + 1), "image/jpeg"))
    ]
    assert file_report(http, fmt=fmt, files=huge).status_code == 400
    span = http.get(
        f"{BASE}/requests.{fmt}?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z"
    )
    assert span.status_code == 400 and "90" in errors(span)[0][1]
    assert http.get(f"{BASE}/requests/999999.{fmt}").status_code == 404
    assert http.get(f"{BASE}/tokens/nothing.{fmt}").status_code == 404
    nothing_stored = http.get(f"{BASE}/requests.json").json()
    assert nothing_stored == []  # no refused report was stored


def test_a_report_goes_from_the_phone_to_closed_and_rated(
    http: TestClient, citizen_app: FastAPI
) -> None:
    lan = who(http, "citizen.lan")
    files = [("media", ("IMG_0001.jpg", phone_photo(), "image/jpeg"))]
    created = file_report(http, lan, files=files, email="lan@example.vn")
    assert created.status_code == 200, created.text
    [receipt] = created.json()
    report_id = int(receipt["service_request_id"])
    # The spec answers with the id (or a token when the id comes later); ours has both.
    token = citizen_app.state.domains["citizen"].service.get_row(report_id)["token"]
    assert http.get(f"{BASE}/tokens/{token}.json").json()[0]["service_request_id"] == str(report_id)

    # Public view: open, routed to the construction department, no personal data, photo clean.
    [public] = http.get(f"{BASE}/requests/{report_id}.json").json()
    assert public["status"] == "open" and public["agency_responsible"] == "SXD"
    assert public["requested_datetime"].endswith("+07:00")
    assert "lan@example.vn" not in str(public)
    photo = http.get(public["media_url"].replace("http://testserver", ""))
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert not photos.has_gps(photo.content)
    assert max(Image.open(io.BytesIO(photo.content)).size) <= photos.MAX_SIDE_PX

    # The right department sees it; another does not.
    sxd, env = who(http, "officer.sxd"), who(http, "officer.env")
    assert report_id in [r["id"] for r in http.get("/api/citizen/queue", headers=sxd).json()]
    assert report_id not in [r["id"] for r in http.get("/api/citizen/queue", headers=env).json()]
    assert http.get(f"/api/citizen/reports/{report_id}", headers=env).status_code == 404
    contact = http.get(f"/api/citizen/reports/{report_id}/contact", headers=sxd).json()
    assert contact["contact"]["email"] == "lan@example.vn"
    rows, _ = citizen_app.state.auth.audit.query(AuditFilter(resource_prefix="/api/citizen"))
    assert any(
        row["resource"].endswith("/contact") and row["actor"] == "officer.sxd" for row in rows
    )

    url = f"/api/citizen/reports/{report_id}"
    assert http.post(f"{url}/assign", json={"user": "officer.sxd"}, headers=sxd).status_code == 200
    ask = {"text": "Ổ gà ở làn bên phải hay bên trái?"}
    assert http.post(f"{url}/request-info", json=ask, headers=sxd).status_code == 200
    assert http.post(f"{url}/answer", json={"text": "Làn bên phải"}, headers=lan).status_code == 200
    rate_early = http.post(f"{url}/rating", json={"rating": 5}, headers=lan)
    assert rate_early.status_code == 409  # not closed yet
    result = phone_photo(gps=True)
    after = {"photo": ("after.jpg", result, "image/jpeg")}
    closed = http.post(f"{url}/close", data={"result": "Đã vá ổ gà"}, files=after, headers=sxd)
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "closed"
    case = http.get(url, headers=sxd).json()
    assert [p["kind"] for p in case["photos"]] == ["report", "result"]

    [public] = http.get(f"{BASE}/requests/{report_id}.xml".replace(".xml", ".json")).json()
    assert public["status"] == "closed" and public["status_notes"] == "Đã vá ổ gà"
    messages = http.get("/api/citizen/my/notifications", headers=lan).json()
    assert any("đã được xử lý xong" in m["text_vi"] for m in messages)
    mine = http.get("/api/citizen/my/reports", headers=lan).json()
    assert [m["id"] for m in mine] == [report_id]
    assert mine[0]["history"][0]["state"] == "received"

    other = http.post(f"{url}/rating", json={"rating": 1}, headers=who(http, "operator.ioc"))
    assert other.status_code in (400, 404)  # not the operator's own report
    assert http.post(f"{url}/rating", json={"rating": 4}, headers=lan).status_code == 200
    assert http.post(f"{url}/rating", json={"rating": 2}, headers=lan).status_code == 409

    figures = http.get("/api/citizen/indicators", headers=who(http, "operator.ioc")).json()
    assert figures["onTimeRate"] == 100.0 and figures["satisfactionRate"] == 100.0
    assert figures["byDepartment"]["SXD"]["on_time_rate"] == 100.0
    # The IOC's tiles move too (computed afresh: no 10 s cache in this test).
    citizen_app.state.kpis.cache_s = 0.0
    tiles = {k["key"]: k["value"] for k in http.get("/api/kpis").json()["kpis"]}
    assert tiles["citizen-on-time"] == 100.0 and tiles["citizen-satisfaction"] == 100.0
    assert tiles["citizen-median-close"] is not None

    updates = http.get(f"{BASE}/servicerequestupdates.json").json()
    assert {u["service_request_id"] for u in updates} == {str(report_id)}
    assert updates[-1]["status"] == "closed"


def test_the_ioc_sees_reports_on_its_map_and_as_alerts(http: TestClient) -> None:
    created = file_report(http, code="flooded-street", **{"attribute[depth]": ""})
    if created.status_code != 200:  # the depth attribute may be required
        service = http.get(f"{BASE}/services/flooded-street.json").json()
        required = {a["code"]: a for a in service["attributes"] if a["required"]}
        extra = {f"attribute[{code}]": a["values"][0]["key"] for code, a in required.items()}
        created = file_report(http, code="flooded-street", **extra)
    assert created.status_code == 200, created.text
    report_id = created.json()[0]["service_request_id"]
    operator = who(http, "operator.ioc")
    layer = http.get("/api/map/layers/citizen-reports", headers=operator).json()
    assert f"urn:ngsi-ld:ServiceRequest:{report_id}" in layer["id"]
    alerts = http.get("/api/alerts?status=open", headers=operator).json()
    mine = [a for a in alerts if a["subject_id"] == f"urn:ngsi-ld:ServiceRequest:{report_id}"]
    assert mine and mine[0]["category"] == "citizen-report"
    assert mine[0]["department"] == "SXD"


def test_neighbours_follow_instead_of_filing_again(http: TestClient) -> None:
    first = file_report(http, who(http, "citizen.lan"))
    report_id = int(first.json()[0]["service_request_id"])
    near = http.get(f"/api/citizen/nearby?service_code=pothole&lat={LAT + 0.0002}&long={LONG}")
    assert [r["id"] for r in near.json()] == [report_id]  # ~22 m away
    far = http.get(f"/api/citizen/nearby?service_code=pothole&lat={LAT + 0.001}&long={LONG}")
    assert far.json() == []  # ~110 m away
    add = http.post(f"/api/citizen/reports/{report_id}/follow", headers=who(http, "operator.ioc"))
    assert add.status_code == 204


def test_spam_is_limited_per_device(http: TestClient) -> None:
    for _ in range(10):
        assert file_report(http, device_id="spammer").status_code == 200
    refused = file_report(http, device_id="spammer")
    assert refused.status_code == 429
    assert "an hour" in refused.json()[0]["description"]
    assert file_report(http, device_id="someone-else").status_code == 200


def test_moderation_hides_personal_data_from_the_public(http: TestClient) -> None:
    lan = who(http, "citizen.lan")
    created = file_report(http, lan, description="Ổ gà trước nhà ông Nguyễn Văn A, số 12")
    report_id = created.json()[0]["service_request_id"]
    sxd = who(http, "officer.sxd")
    body = {"public_description": "Ổ gà trước nhà số 12", "reason": "có tên người"}
    assert (
        http.post(f"/api/citizen/reports/{report_id}/moderate", json=body, headers=sxd).status_code
        == 200
    )
    [public] = http.get(f"{BASE}/requests/{report_id}.json").json()
    assert public["description"] == "Ổ gà trước nhà số 12"
    told = http.get("/api/citizen/my/notifications", headers=lan).json()
    assert any("có tên người" in m["text_vi"] for m in told)


def test_a_dark_street_report_links_to_the_nearest_lamp(
    http: TestClient, citizen_app: FastAPI
) -> None:
    key = citizen_app.state.auth.service.create_api_key("lamps", "integrator").key
    for number, (lon, lat) in enumerate([(LONG + 0.0003, LAT), (LONG + 0.0001, LAT)], start=1):
        lamp = {
            "id": f"urn:ngsi-ld:Streetlight:test-{number}",
            "type": "Streetlight",
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [lon, lat]},
            },
        }
        assert (
            http.post("/ngsi-ld/v1/entities", json=lamp, headers={"X-API-Key": key}).status_code
            == 201
        )
    created = file_report(http, code="streetlight-broken", description="Đèn tắt")
    assert created.status_code == 200, created.text
    report_id = created.json()[0]["service_request_id"]
    case = http.get(f"/api/citizen/reports/{report_id}", headers=who(http, "operator.ioc")).json()
    assert case["linked_entity"] == "urn:ngsi-ld:Streetlight:test-2"  # ~11 m, not ~33 m
    mirrored = http.get(f"/ngsi-ld/v1/entities/urn:ngsi-ld:ServiceRequest:{report_id}").json()
    assert mirrored["refLinkedEntity"]["object"] == "urn:ngsi-ld:Streetlight:test-2"


def test_admins_route_a_category_elsewhere_in_one_ward(
    http: TestClient, citizen_app: FastAPI
) -> None:
    add_user(citizen_app, "admin.city", "admin")
    admin, operator = who(http, "admin.city"), who(http, "operator.ioc")
    first = file_report(http).json()[0]["service_request_id"]
    ward = http.get(f"/api/citizen/reports/{first}", headers=operator).json()["ward"]
    assert ward  # the nearest post-2025 ward of the point
    entry = next(e for e in http.get("/api/citizen/catalogue").json() if e["code"] == "pothole")
    changed = {**{k: v for k, v in entry.items() if k not in ("code", "updated_at")},
               "ward_departments": {ward: "SNNMT"}, "sla_days": 2}  # fmt: skip
    refused = http.put("/api/citizen/catalogue/pothole", json=changed, headers=operator)
    assert refused.status_code == 403  # only admins edit the catalogue
    saved = http.put("/api/citizen/catalogue/pothole", json=changed, headers=admin)
    assert saved.status_code == 200, saved.text
    second = file_report(http).json()[0]["service_request_id"]
    routed = http.get(f"/api/citizen/reports/{second}", headers=operator).json()
    assert routed["department"] == "SNNMT"
    [public] = http.get(f"{BASE}/requests/{second}.json").json()
    assert public["agency_responsible"] == "SNNMT"


def test_a_signed_in_citizen_is_limited_as_a_person_not_by_address(http: TestClient) -> None:
    lan = who(http, "citizen.lan")
    for _ in range(10):
        assert file_report(http, lan, device_id="shared-1").status_code == 200
    assert file_report(http, lan, device_id="shared-2").status_code == 429  # still Lan
    assert file_report(http, device_id="shared-1").status_code == 200  # anonymous on the device
