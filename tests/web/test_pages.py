"""The IOC pages and the map layer API over the public HTTP surface (no browser)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from smartcity.core.registry import NO_DATA_COLOR, MapLayer
from smartcity.web import maplayers
from smartcity.web.assets import AssetError, check_integrity, locked_packages
from smartcity.web.i18n import format_number
from tests.core.context.test_subscriptions import wait_for

AIR = "urn:ngsi-ld:AirQualityObserved:probe"


def test_pages_are_vietnamese_by_default_and_english_on_request(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert '<html lang="vi">' in page.text and "Đăng nhập" in page.text
    english = client.get("/login", params={"lang": "en"})
    assert '<html lang="en">' in english.text and ">Sign in<" in english.text
    client.cookies.set("lang", "en")
    assert '<html lang="en">' in client.get("/ioc").text
    client.cookies.clear()


def test_pages_allow_nothing_from_outside(client: TestClient) -> None:
    policy = client.get("/ioc").headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "http" not in policy  # no tile server configured: no outside origin at all
    assert (
        client.get("/ngsi-ld/v1/types")
        .headers["content-security-policy"]
        .startswith("default-src 'self'; frame-ancestors 'none'")
    )


def test_static_files_are_served_and_paths_cannot_escape(client: TestClient) -> None:
    script = client.get("/static/ioc.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/static/../pages.py").status_code == 404
    assert client.get("/static/%2e%2e/pages.py").status_code == 404
    assert client.get("/static/nothing.js").status_code == 404


def test_map_layers_pack_markers_with_their_colour(client: TestClient) -> None:
    body = {
        "id": AIR,
        "type": "AirQualityObserved",
        "name": {"type": "Property", "value": "Probe"},
        "pm25": {"type": "Property", "value": 62.0},
        "airQualityIndex": {"type": "Property", "value": 110},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [105.78, 10.03]},
        },
    }
    assert client.post("/ngsi-ld/v1/entities", json=body).status_code == 201
    layers = client.get("/api/map/layers").json()["layers"]
    assert {"air", "traffic", "streetlights", "river-level"} <= {layer["key"] for layer in layers}
    air = client.get("/api/map/layers/air").json()
    assert air["count"] == 1 and air["id"] == [AIR] and air["name"] == ["Probe"]
    # Coloured by VN_AQI with the decision's colours (101–150: orange).
    assert air["lon"] == [105.78] and air["v"] == [110] and air["c"] == ["#ff7e00"]
    assert client.get("/api/map/layers/nope").status_code == 404


def test_layer_colours_by_steps_and_categories() -> None:
    layer = MapLayer("x", "T", "x", "x", "v", steps=((1, "a"), (2, "b")))
    assert [layer.color_of(v) for v in (0.5, 1, 1.5, 9)] == ["a", "a", "b", "b"]
    assert layer.color_of(None) == NO_DATA_COLOR
    cat = MapLayer("y", "T", "y", "y", "s", categories={"ok": "g", "*": "r"})
    assert (cat.color_of("OK"), cat.color_of("broken")) == ("g", "r")
    assert cat.color_of(None) == NO_DATA_COLOR


def test_numbers_are_written_the_vietnamese_way() -> None:
    assert format_number(1234.5, "vi") == "1.234,5"
    assert format_number(1234.5, "en") == "1,234.5"


def test_asset_integrity_is_checked() -> None:
    package = locked_packages()[0]
    assert package.integrity.startswith("sha512-")
    with pytest.raises(AssetError):
        check_integrity(b"not the tarball", package.integrity)


def test_tables_export_to_csv_and_xlsx_with_vietnamese_intact(client: TestClient) -> None:
    import io

    from openpyxl import load_workbook

    table = {
        "title": "Mực nước trạm Cần Thơ",
        "columns": ["Thời gian", "height"],
        "rows": [["2026-12-04T10:00:00Z", 1.82], ["2026-12-04T11:00:00Z", None]],
    }
    csv_file = client.post("/api/export/csv", json=table)
    assert csv_file.status_code == 200
    assert csv_file.content.startswith("\ufeff".encode())
    assert "Thời gian,height" in csv_file.content.decode("utf-8-sig")
    assert 'filename="muc-nuoc-tram-can-tho.csv"' in csv_file.headers["content-disposition"]
    xlsx = client.post("/api/export/xlsx", json=table)
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    assert [c.value for c in sheet[1]] == ["Thời gian", "height"]
    assert sheet["B2"].value == 1.82 and sheet["B3"].value is None
    assert client.post("/api/export/pdf", json=table).status_code == 400
    assert client.post("/api/export/csv", json={**table, "columns": []}).status_code == 400


def test_a_stale_layer_is_served_at_once_and_refreshed_behind(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {
        "id": AIR,
        "type": "AirQualityObserved",
        "airQualityIndex": {"type": "Property", "value": 40},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [105.78, 10.03]},
        },
    }
    assert client.post("/ngsi-ld/v1/entities", json=body).status_code == 201

    def shown() -> Any:
        return client.get("/api/map/layers/air").json()["v"]

    assert shown() == [40]
    update = {"airQualityIndex": {"type": "Property", "value": 160}}
    assert client.patch(f"/ngsi-ld/v1/entities/{AIR}/attrs", json=update).status_code == 204
    monkeypatch.setattr(maplayers, "CACHE_S", 0.0)  # the build is now stale, not too old
    assert shown() == [40]  # served at once …
    wait_for(lambda: shown() == [160])  # … and rebuilt behind the scenes
    monkeypatch.setattr(maplayers, "STALE_S", 0.0)  # too old to serve: rebuilt first
    update = {"airQualityIndex": {"type": "Property", "value": 250}}
    assert client.patch(f"/ngsi-ld/v1/entities/{AIR}/attrs", json=update).status_code == 204
    assert shown() == [250]
