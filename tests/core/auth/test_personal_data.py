"""Personal-data rights: export of one's data, erasure requests and their deadline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import holidays
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from smartcity.app import create_app
from smartcity.core.auth.tables import auth_sessions, users
from smartcity.core.auth.workdays import add_working_days, is_working_day
from smartcity.core.db import Database

from .support import add_user, admin_headers, auth_settings, bearer, cheap_hashing, sign_in


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


@pytest.fixture
def app(database: Database, tmp_path: Path) -> FastAPI:
    built = create_app(auth_settings(tmp_path), database=database)
    add_user(
        built,
        "citizen.lan",
        "citizen",
        full_name="Nguyễn Thị Lan",
        email="lan@example.vn",
        phone="+84 292 3820 000",
    )
    return built


@pytest.fixture
def citizen(http: TestClient) -> dict[str, str]:
    return bearer(sign_in(http, "citizen.lan")["access_token"])


def test_export_is_a_json_download_of_everything_held(
    http: TestClient, citizen: dict[str, str]
) -> None:
    response = http.get("/auth/me/export", headers=citizen)
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["cache-control"] == "no-store"
    data = response.json()
    assert data["account"]["username"] == "citizen.lan"
    assert data["account"]["fullName"] == "Nguyễn Thị Lan"
    assert data["account"]["email"] == "lan@example.vn"
    assert len(data["sessions"]) == 1
    assert data["sessions"][0]["kind"] == "token"
    assert data["dataRequests"] == []
    assert "exportedAt" in data


def test_export_holds_no_secrets(app: FastAPI, http: TestClient, citizen: dict[str, str]) -> None:
    # A cookie session too, whose secret hash and CSRF token must stay out of the export.
    http.post("/auth/session", data={"username": "citizen.lan", "password": "Song-Hau-2026!"})
    body = http.get("/auth/me/export", headers=citizen).text
    stored = app.state.auth.service.list_users()[0].password_hash
    assert "$argon2" not in body
    assert stored not in body
    assert "password" not in body
    assert "secret_hash" not in body and "csrf_token" not in body
    assert http.cookies["smartcity_csrf"] not in body


def test_export_is_for_signed_in_users(http: TestClient) -> None:
    assert http.get("/auth/me/export").status_code == 401


def test_erasure_request_is_acknowledged_within_two_working_days(
    http: TestClient, citizen: dict[str, str]
) -> None:
    today = datetime.now(UTC).date()
    response = http.post("/auth/me/erasure", headers=citizen)
    assert response.status_code == 202, response.text
    request = response.json()
    assert request["kind"] == "erasure"
    assert request["status"] == "received"
    due = date.fromisoformat(request["acknowledge_by"])
    assert due == add_working_days(today, 2)
    assert due > today and is_working_day(due)

    mine = http.get("/auth/me/data-requests", headers=citizen).json()
    assert [r["id"] for r in mine] == [request["id"]]
    exported = http.get("/auth/me/export", headers=citizen).json()
    assert [r["id"] for r in exported["dataRequests"]] == [request["id"]]


def test_completed_erasure_anonymises_but_keeps_the_row(
    app: FastAPI, http: TestClient, citizen: dict[str, str], database: Database
) -> None:
    admin = admin_headers(app, http)
    request = http.post("/auth/me/erasure", headers=citizen).json()
    queue = http.get("/api/admin/data-requests", headers=admin).json()
    assert [r["id"] for r in queue] == [request["id"]]

    done = http.post(
        f"/api/admin/data-requests/{request['id']}/complete",
        json={"note": "xác minh qua VNeID"},
        headers=admin,
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done"
    assert done.json()["completed_at"] is not None

    user_id = request["user_id"]
    shown = http.get(f"/api/admin/users/{user_id}", headers=admin).json()
    assert shown["username"] == f"erased-{user_id}"
    assert (shown["email"], shown["phone"], shown["fullName"]) == (None, None, None)
    assert shown["active"] is False
    assert http.get("/auth/me", headers=citizen).status_code == 401
    with database.read() as conn:
        assert conn.execute(select(users.c.anonymised_at).where(users.c.id == user_id)).scalar()
        # Sessions (references to the user) survive, revoked.
        mine = auth_sessions.c.user_id == user_id
        total = conn.execute(select(func.count()).where(mine)).scalar_one()
        live = conn.execute(
            select(func.count()).where(mine, auth_sessions.c.revoked_at.is_(None))
        ).scalar_one()
        assert (total, live) == (1, 0)
    relogin = http.post(
        "/auth/token",
        data={"grant_type": "password", "username": "citizen.lan", "password": "Song-Hau-2026!"},
    )
    assert relogin.status_code == 400


def test_a_done_request_cannot_be_completed_twice(
    app: FastAPI, http: TestClient, citizen: dict[str, str]
) -> None:
    admin = admin_headers(app, http)
    request = http.post("/auth/me/erasure", headers=citizen).json()
    url = f"/api/admin/data-requests/{request['id']}/complete"
    assert http.post(url, json={}, headers=admin).status_code == 200
    assert http.post(url, json={}, headers=admin).status_code == 409
    assert (
        http.post("/api/admin/data-requests/987654321/complete", json={}, headers=admin).status_code
        == 404
    )


def test_citizens_may_not_complete_requests(http: TestClient, citizen: dict[str, str]) -> None:
    request = http.post("/auth/me/erasure", headers=citizen).json()
    response = http.post(
        f"/api/admin/data-requests/{request['id']}/complete", json={}, headers=citizen
    )
    assert response.status_code == 403
    assert http.get("/api/admin/data-requests", headers=citizen).status_code == 403


# --- working days (no database) ----------------------------------------------------------------


def test_weekend_is_skipped() -> None:
    # Friday 13 November 2026 + 2 working days = Tuesday 17 November.
    assert add_working_days(date(2026, 11, 13), 2) == date(2026, 11, 17)
    assert add_working_days(date(2026, 11, 14), 1) == date(2026, 11, 16)  # from a Saturday


def test_vietnam_culture_day_2026_is_skipped() -> None:
    # 24 November (Ngày Văn hóa Việt Nam) is a holiday from 2026 in the `holidays` package:
    # Friday 20 November + 2 working days is Wednesday 25, not Tuesday 24.
    if date(2026, 11, 24) not in holidays.country_holidays("VN", years=2026):
        pytest.skip("this `holidays` version does not list 24 November 2026")
    assert add_working_days(date(2026, 11, 20), 2) == date(2026, 11, 25)


def test_tet_2027_is_skipped() -> None:
    vn = holidays.country_holidays("VN", years=2027)
    tet = [d for d in vn if date(2027, 2, 1) <= d <= date(2027, 2, 28)]
    assert date(2027, 2, 6) in tet  # Mùng 1 Tết Đinh Mùi
    last_tet_day = max(tet)
    # The day before Tết begins, plus two working days, lands after the whole break.
    eve = min(tet) - timedelta(days=1)
    due = add_working_days(eve, 2)
    assert due > last_tet_day
    expected = [
        d
        for d in (last_tet_day + timedelta(days=n) for n in range(1, 10))
        if d.weekday() < 5 and d not in vn
    ][1]
    assert due == expected
    # With holidays 0.109: Tết is Thu 4 – Wed 10 February 2027, so Wed 3 → Fri 12.
    if tet == [date(2027, 2, d) for d in range(4, 11)]:
        assert add_working_days(date(2027, 2, 3), 2) == date(2027, 2, 12)


def test_new_year_across_the_year_boundary() -> None:
    # Thursday 31 Dec 2026; Friday 1 Jan 2027 is a holiday, then a weekend.
    assert add_working_days(date(2026, 12, 31), 2) == date(2027, 1, 5)
