"""A third-party Open311 GeoReport v2 client (`georeport` from PyPI) reads our endpoints over
real HTTP, in JSON and in XML: the catalogue, a service definition, the reports, one report."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from smartcity.app import create_app
from smartcity.config import Settings
from smartcity.core.db import Database
from tests.servers import free_port


@pytest.fixture
def server(database: Database, tmp_path: Path) -> Iterator[str]:
    """The platform served by uvicorn on a free port; its base URL."""
    app: FastAPI = create_app(Settings(data_dir=tmp_path), database=database)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(timeout=20)


@pytest.mark.parametrize("output_format", ["json", "xml"])
def test_georeport_reads_our_open311_endpoints(server: str, output_format: str) -> None:
    from georeport import GeoReport

    form = {
        "service_code": "streetlight-broken",
        "lat": "10.0338",
        "long": "105.7882",
        "description": "Đèn đường tắt cả tuần ở bến Ninh Kiều",
    }
    created = httpx.post(f"{server}/open311/v2/requests.json", data=form)
    assert created.status_code == 200, created.text
    report_id = created.json()[0]["service_request_id"]

    client = GeoReport(f"{server}/open311/v2", output_format=output_format)
    services = client.get_service_list()
    codes = {service["service_code"] for service in _items(services, "service")}
    assert {"pothole", "streetlight-broken", "flooded-street"} <= codes
    definition = client.get_service_definition("pothole")
    assert "size" in str(definition)
    listed = _items(client.get_service_requests(service_code="streetlight-broken"), "request")
    assert [r["service_request_id"] for r in listed] == [report_id]
    [one] = _items(client.get_service_request(report_id), "request")
    assert one["status"] == "open" and one["service_code"] == "streetlight-broken"
    assert one["requested_datetime"].endswith("+07:00")


def _items(answer: Any, element: str) -> list[dict[str, Any]]:
    """The records of an answer: a JSON list, one record, or xmltodict's document of them."""
    if isinstance(answer, list):
        return answer
    assert isinstance(answer, dict)
    if element in answer:  # {"service": [...]} or {"service": {...}}
        found = answer[element]
        return found if isinstance(found, list) else [found]
    inner = next(iter(answer.values())) if len(answer) == 1 else None
    if isinstance(inner, dict | list):  # {"services": {"service": [...]}}
        return _items(inner, element)
    return [answer]
