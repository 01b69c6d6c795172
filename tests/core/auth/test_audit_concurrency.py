"""Concurrent writes share audit append jobs and still leave one intact chain, row per write."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from smartcity.app import create_app
from smartcity.config import Settings
from smartcity.core.auth.audit import AuditFilter
from smartcity.core.db import Database

ENTITIES = "/ngsi-ld/v1/entities"
WRITES = 40


def test_concurrent_writes_each_leave_one_chained_row(
    database: Database, app_settings: Settings
) -> None:
    app = create_app(app_settings, database=database)
    key = app.state.auth.service.create_api_key("load", "integrator")

    def create(n: int) -> int:
        body = {"id": f"urn:ngsi-ld:WaterObserved:w{n}", "type": "WaterObserved"}
        return client.post(ENTITIES, json=body).status_code

    with TestClient(app, headers={"X-API-Key": key.key}) as client:
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(create, range(WRITES)))
        assert statuses == [201] * WRITES
        rows, total = app.state.auth.audit.query(AuditFilter(actor=f"key:{key.id}", limit=1000))
    assert total == WRITES
    assert {row["resource"] for row in rows} == {ENTITIES}
    assert [row["seq"] for row in rows] == sorted({row["seq"] for row in rows}, reverse=True)
    check = app.state.auth.audit.verify()
    assert check.ok and check.rows == WRITES


def test_revoked_key_is_refused_at_once_despite_the_cache(
    database: Database, app_settings: Settings
) -> None:
    settings = app_settings.model_copy(update={"api_key_cache_s": 60.0})
    app = create_app(settings, database=database)
    service = app.state.auth.service
    key = service.create_api_key("gauge", "integrator")
    with TestClient(app, headers={"X-API-Key": key.key}) as client:
        query = {"type": "WaterObserved"}
        assert client.get(ENTITIES, params=query).status_code == 200
        assert service.cached_key_principal(key.key) is not None
        service.revoke_api_key(key.id)
        assert client.get(ENTITIES, params=query).status_code == 401
