"""NGSI-LD narrowed by entity type: personal types, officers' departments, scoped API keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from smartcity.app import create_app
from smartcity.config import Settings
from smartcity.core.auth.audit import AuditFilter
from smartcity.core.db import Database
from tests.core.auth.principals import Callers, make_callers

NGSI = "/ngsi-ld/v1"
JSON = {"Content-Type": "application/json"}
PERSON = "urn:ngsi-ld:Person:nguyen-van-a"
PATIENT = "urn:ngsi-ld:Patient:p1"
AIR = "urn:ngsi-ld:AirQualityObserved:ninh-kieu"
FLOW = "urn:ngsi-ld:TrafficFlowObserved:cau-can-tho"


def entity(entity_id: str, kind: str, **attrs: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": entity_id, "type": kind}
    for name, value in attrs.items():
        body[name] = {"type": "Property", "value": value}
    return body


@pytest.fixture
def city(database: Database, app_settings: Settings) -> Iterator[tuple[TestClient, Callers]]:
    """An app holding a person, a patient, an air station and a traffic counter."""
    app = create_app(app_settings, database=database)
    callers = make_callers(app)
    with TestClient(app) as client:
        admin = callers.headers("admin")
        for body in (
            entity(PERSON, "Person", name="Nguyễn Văn A"),
            entity(PATIENT, "Patient", name="Trần Thị B"),
            entity(AIR, "AirQualityObserved", pm25=21.0),
            entity(FLOW, "TrafficFlowObserved", intensity=420),
        ):
            created = client.post(f"{NGSI}/entities", json=body, headers={**admin, **JSON})
            assert created.status_code == 201, created.text
        yield client, callers


def ids(response: Any) -> set[str]:
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()}


def test_personal_entities_hidden_from_anonymous_queries(
    city: tuple[TestClient, Callers],
) -> None:
    client, _ = city
    everything = client.get(f"{NGSI}/entities", params={"idPattern": ".*", "limit": 100})
    assert ids(everything) == {AIR, FLOW}
    assert ids(client.get(f"{NGSI}/entities", params={"type": "Person"})) == set()
    counted = client.get(f"{NGSI}/entities", params={"idPattern": ".*", "count": "true"})
    assert counted.headers["NGSILD-Results-Count"] == "2"


@pytest.mark.parametrize(("caller", "status"), [("anonymous", 401), ("citizen", 403)])
def test_personal_entity_refused(
    city: tuple[TestClient, Callers], caller: str, status: int
) -> None:
    client, callers = city
    response = client.get(f"{NGSI}/entities/{PERSON}", headers=callers.headers(caller))
    assert response.status_code == status, response.text


@pytest.mark.parametrize("caller", ["citizen", "integrator", "apikey", "officer"])
def test_personal_types_invisible_without_the_right(
    city: tuple[TestClient, Callers], caller: str
) -> None:
    client, callers = city
    query = {"idPattern": ".*", "limit": 100}
    found = ids(client.get(f"{NGSI}/entities", params=query, headers=callers.headers(caller)))
    assert found == {AIR, FLOW}


def test_operator_reads_personal_data_and_the_read_is_audited(
    city: tuple[TestClient, Callers],
) -> None:
    client, callers = city
    response = client.get(f"{NGSI}/entities/{PERSON}", headers=callers.headers("operator"))
    assert response.status_code == 200
    listed = client.get(
        f"{NGSI}/entities", params={"type": "Person"}, headers=callers.headers("operator")
    )
    assert ids(listed) == {PERSON}
    audit = client.app.state.auth.audit  # type: ignore[attr-defined]
    rows, total = audit.query(AuditFilter(actor="operator.test"))
    reads = [row for row in rows if row["action"].startswith("GET")]
    assert total >= 2 and len(reads) == 2
    assert all(PERSON in (row["detail"] or "") for row in reads)
    assert {row["outcome"] for row in reads} == {"ok"}


def test_non_personal_reads_are_not_audited(city: tuple[TestClient, Callers]) -> None:
    client, callers = city
    assert client.get(f"{NGSI}/entities/{AIR}", headers=callers.headers("operator")).is_success
    audit = client.app.state.auth.audit  # type: ignore[attr-defined]
    rows, _ = audit.query(AuditFilter(actor="operator.test"))
    assert [row for row in rows if row["action"].startswith("GET")] == []


def test_health_officer_reads_patients_not_persons(city: tuple[TestClient, Callers]) -> None:
    client, callers = city
    health = callers.headers("officer_health")
    assert client.get(f"{NGSI}/entities/{PATIENT}", headers=health).status_code == 200
    assert client.get(f"{NGSI}/entities/{PERSON}", headers=health).status_code == 403
    query = {"idPattern": ".*", "limit": 100}
    found = ids(
        client.get(f"{NGSI}/entities", params=query, headers=callers.headers("officer_health"))
    )
    assert found == {PATIENT, AIR, FLOW}
    environment = callers.headers("officer")
    assert client.get(f"{NGSI}/entities/{PATIENT}", headers=environment).status_code == 403


def test_officer_writes_only_department_types(city: tuple[TestClient, Callers]) -> None:
    """The environment officer (SNNMT) updates air stations but not traffic counters."""
    client, callers = city
    patch = {"pm25": {"type": "Property", "value": 30.0}}
    ok = client.patch(
        f"{NGSI}/entities/{AIR}/attrs", json=patch, headers=callers.headers("officer")
    )
    assert ok.status_code == 204, ok.text
    flow_patch = {"intensity": {"type": "Property", "value": 0}}
    refused = client.patch(
        f"{NGSI}/entities/{FLOW}/attrs", json=flow_patch, headers=callers.headers("officer")
    )
    assert refused.status_code == 403, refused.text
    stored = client.get(f"{NGSI}/entities/{FLOW}", params={"options": "keyValues"}).json()
    assert stored["intensity"] == 420
    deleted = client.delete(f"{NGSI}/entities/{FLOW}", headers=callers.headers("officer"))
    assert deleted.status_code == 403
    created = client.post(
        f"{NGSI}/entities",
        json=entity("urn:ngsi-ld:TrafficFlowObserved:new", "TrafficFlowObserved"),
        headers={**callers.headers("officer"), **JSON},
    )
    assert created.status_code == 403


def test_batch_with_one_forbidden_entity_stores_nothing(city: tuple[TestClient, Callers]) -> None:
    client, callers = city
    batch = [
        entity("urn:ngsi-ld:AirQualityObserved:cai-rang", "AirQualityObserved", pm25=12.0),
        entity("urn:ngsi-ld:Person:tran-van-c", "Person", name="Trần Văn C"),
    ]
    response = client.post(
        f"{NGSI}/entityOperations/upsert", json=batch, headers=callers.headers("integrator")
    )
    assert response.status_code == 403, response.text
    missing = client.get(f"{NGSI}/entities/urn:ngsi-ld:AirQualityObserved:cai-rang")
    assert missing.status_code == 404


def test_integrator_cannot_touch_personal_entities(city: tuple[TestClient, Callers]) -> None:
    client, callers = city
    patch = {"name": {"type": "Property", "value": "changed"}}
    for caller in ("integrator", "apikey", "operator"):
        response = client.patch(
            f"{NGSI}/entities/{PERSON}/attrs", json=patch, headers=callers.headers(caller)
        )
        assert response.status_code == 403, (caller, response.text)
    stored = client.get(
        f"{NGSI}/entities/{PERSON}",
        params={"options": "keyValues"},
        headers=callers.headers("admin"),
    )
    assert stored.json()["name"] == "Nguyễn Văn A"


def test_scoped_key_writes_only_its_types(city: tuple[TestClient, Callers]) -> None:
    client, callers = city
    key = callers.service.create_api_key("tide gauge", entity_types=["WaterObserved"]).key
    headers = {"X-API-Key": key, **JSON}
    water = entity("urn:ngsi-ld:WaterObserved:can-tho", "WaterObserved", waterLevel=1.9)
    assert client.post(f"{NGSI}/entities", json=water, headers=headers).status_code == 201
    patch = {"pm25": {"type": "Property", "value": 99.0}}
    refused = client.patch(f"{NGSI}/entities/{AIR}/attrs", json=patch, headers=headers)
    assert refused.status_code == 403


def test_temporal_api_hides_personal_history(city: tuple[TestClient, Callers]) -> None:
    client, callers = city
    temporal = f"{NGSI}/temporal/entities"
    assert client.get(f"{temporal}/{PERSON}").status_code == 401
    assert client.get(f"{temporal}/{PERSON}", headers=callers.headers("citizen")).status_code == 403
    assert ids(client.get(temporal, params={"type": "Person"})) == set()
    assert ids(client.get(temporal, params={"idPattern": ".*"})) == {AIR, FLOW}
    admin = ids(client.get(temporal, params={"type": "Person"}, headers=callers.headers("admin")))
    assert admin == {PERSON}


def test_closed_context_needs_sign_in(database: Database, app_settings: Settings) -> None:
    settings = app_settings.model_copy(update={"public_context_read": False})
    with TestClient(create_app(settings, database=database)) as client:
        assert (
            client.get(f"{NGSI}/entities", params={"type": "AirQualityObserved"}).status_code == 401
        )
        assert client.get("/healthz").status_code == 200
