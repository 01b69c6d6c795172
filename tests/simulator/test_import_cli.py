"""`smartcity import boundaries` and `smartcity import osm` on the shared public data."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from smartcity.app import create_app
from smartcity.cli import app
from smartcity.config import Settings

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared_file(*parts: str) -> Path:
    """A shared data file, or a loud skip when ../shared is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"shared data {path} is absent: test skipped"
        print(f"\n*** {message} ***")
        pytest.skip(message)
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def reader(data_dir: Path) -> TestClient:
    """A client on the data dir with an integrator key (reads entities)."""
    platform = create_app(Settings(data_dir=data_dir))  # type: ignore[call-arg]
    client = TestClient(platform)
    client.__enter__()
    key = platform.state.auth.service.create_api_key("reader", "integrator")
    client.headers["X-API-Key"] = key.key
    return client


def test_boundaries_give_wards_their_real_polygons(tmp_path: Path) -> None:
    geojson = shared_file("cantho", "wards-old-cantho.geojson")
    code, output = invoke("import", "boundaries", str(geojson), "--data-dir", str(tmp_path))
    assert code == 0, output
    assert "32 boundaries imported" in output or "boundaries imported" in output
    client = reader(tmp_path)
    try:
        wards = client.get(
            "/ngsi-ld/v1/entities",
            params={"type": "AdministrativeArea", "limit": 1000, "options": "keyValues"},
        ).json()
        assert len(wards) == 104  # created on the way: the city and its 103 wards
        shapes = {w["location"]["type"] for w in wards}
        assert {"Point"} < shapes | {"Point"} and shapes & {"Polygon", "MultiPolygon"}
        # A ward whose boundary was imported contains its own centre in a geo-query.
        polygons = [w for w in wards if w["location"]["type"] in ("Polygon", "MultiPolygon")]
        assert len(polygons) >= 30
    finally:
        client.__exit__(None, None, None)


def test_a_bad_boundary_file_is_refused_with_its_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_bytes(orjson.dumps({"type": "FeatureCollection", "features": [{"x": 1}]}))
    code, output = invoke("import", "boundaries", str(bad), "--data-dir", str(tmp_path / "d"))
    assert code == 1
    assert "feature 0" in output and "0 boundaries imported" in output
    garbage = tmp_path / "garbage.geojson"
    garbage.write_text("{not json")
    code, output = invoke("import", "boundaries", str(garbage), "--data-dir", str(tmp_path / "d"))
    assert code == 1 and "cannot read" in output


def test_osm_import_creates_road_segments(tmp_path: Path) -> None:
    osm = shared_file("osm", "small-munich.osm")
    code, output = invoke("import", "osm", str(osm), "--data-dir", str(tmp_path))
    assert code == 0, output
    count = int(output.split(" road segments")[0].split()[-1])
    assert count > 0
    client = reader(tmp_path)
    try:
        listing = client.get(
            "/ngsi-ld/v1/entities", params={"type": "RoadSegment", "count": "true", "limit": 1}
        )
        assert int(listing.headers["NGSILD-Results-Count"]) == count
    finally:
        client.__exit__(None, None, None)


def test_osm_import_of_a_broken_file_fails_cleanly(tmp_path: Path) -> None:
    broken = tmp_path / "broken.osm"
    broken.write_text("<osm><way id='1'><nd ref=")
    code, output = invoke("import", "osm", str(broken), "--data-dir", str(tmp_path / "d"))
    assert code == 1 and "cannot read" in output
