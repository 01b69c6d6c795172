"""The operations-room loop on each backend: a tide-level rule fires on a crossing reading,
the alert notifies by e-mail (real SMTP server), webhook and server-sent events, escalates
when nobody acknowledges it, becomes an incident worked through its SOP, and closes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from smartcity.app import create_app
from smartcity.core.auth.seed import seed_departments
from smartcity.core.db import Database
from tests.core.auth.support import add_user, bearer, cheap_hashing, sign_in
from tests.core.context.test_subscriptions import Receiver

from .support import MailServer, StreamReader, reading, wait_for

GAUGE = "urn:ngsi-ld:WaterObserved:can-tho-station"
TIDE_RULES = """
[[rule]]
id = "tide-bd3"
name = "Mực nước trạm Cần Thơ vượt báo động III"
entity_type = "WaterObserved"
id_pattern = "urn:ngsi-ld:WaterObserved:can-tho-.*"
condition = { threshold = { attribute = "waterLevel", op = ">=", value = 2.0, clear = 1.95 } }
severity = "high"
category = "flood"
department = "SNNMT"
escalation = [ { after = 1, department = "VPUB", user = "director.vpub" } ]
incident_type = "street-flooding-high-tide"
"""


@pytest.fixture
def mail() -> Iterator[MailServer]:
    server = MailServer()
    yield server
    server.close()


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def ioc(
    database: Database, tmp_path: Path, mail: MailServer, monkeypatch: pytest.MonkeyPatch
) -> FastAPI:
    """A platform with the tide rule in its rules dir, sending mail to the test server."""
    cheap_hashing(monkeypatch)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "tide.toml").write_text(TIDE_RULES, encoding="utf-8")
    from smartcity.config import Settings

    settings = Settings(
        data_dir=tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=mail.port,
        alert_sweep_s=0.2,
        leader_retry_s=0.2,
    )
    return create_app(settings, database=database)


@pytest.fixture
def people(ioc: FastAPI) -> None:
    seed_departments(ioc.state.auth.service)
    add_user(ioc, "operator.ioc", "operator", email="operator@cantho.gov.vn")
    add_user(ioc, "officer.env", "officer", departments=["SNNMT"], email="env@cantho.gov.vn")
    add_user(ioc, "director.vpub", "officer", departments=["VPUB"], email="vpub@cantho.gov.vn")
    add_user(ioc, "officer.build", "officer", departments=["SXD"], email="sxd@cantho.gov.vn")


@pytest.fixture
def http(ioc: FastAPI, people: None) -> Iterator[TestClient]:
    """A client holding an integrator key (the gauge's data arrives as an integrator's)."""
    key = ioc.state.auth.service.create_api_key("gauge feed", "integrator")
    with TestClient(ioc, headers={"X-API-Key": key.key}) as client:
        wait_for(lambda: ioc.state.leadership.is_leader)
        yield client


def headers_of(http: TestClient, username: str) -> dict[str, str]:
    """Bearer headers of a signed-in user (and no API key)."""
    return {**bearer(sign_in(http, username)["access_token"]), "X-API-Key": ""}


def gauge(http: TestClient, level: float) -> None:
    body = {
        "id": GAUGE,
        "type": "WaterObserved",
        "waterLevel": {"type": "Property", "value": level},
    }
    assert http.post("/ngsi-ld/v1/entities", json=body).status_code == 201


def open_alerts(http: TestClient, who: dict[str, str]) -> list[dict[str, Any]]:
    response = http.get("/api/alerts?rule=tide-bd3&status=open&status=acknowledged", headers=who)
    assert response.status_code == 200, response.text
    alerts: list[dict[str, Any]] = response.json()
    return alerts


def test_tide_alert_notifies_escalates_and_becomes_an_incident(
    http: TestClient, ioc: FastAPI, mail: MailServer, webhook: Receiver
) -> None:
    operator = headers_of(http, "operator.ioc")
    officer = headers_of(http, "officer.env")
    preferences = {
        "severities": ["medium", "high", "critical"],
        "channels": ["email", "webhook", "sse"],
        "webhook_url": webhook.url,
    }
    response = http.put("/auth/me/notification-preferences", json=preferences, headers=officer)
    assert response.status_code == 200, response.text
    gauge(http, 1.62)
    stream = StreamReader(http, operator, seconds=4)
    time.sleep(0.3)  # the stream is listening

    reading(http, GAUGE, 2.04)
    [alert] = wait_for(lambda: open_alerts(http, operator))
    assert alert["severity"] == "high"
    assert alert["department"] == "SNNMT"
    assert alert["values"] == {"waterLevel": 2.04}
    assert alert["subject_id"] == GAUGE

    # The alert is also an NGSI-LD Alert entity (Smart Data Model).
    entity = http.get(f"/ngsi-ld/v1/entities/{alert['entity_id']}?options=keyValues").json()
    assert entity["type"] == "Alert"
    assert entity["alertSource"] == GAUGE
    assert entity["severity"] == "high"
    assert entity["status"] == "open"

    # Notifications: the department officer by e-mail and webhook.
    [message] = wait_for(lambda: mail.to("env@cantho.gov.vn"))
    assert "Mực nước trạm Cần Thơ" in str(message["Subject"])
    hook = wait_for(lambda: webhook.received)[0]["body"]
    assert hook["reason"] == "opened"
    assert hook["alert"]["id"] == alert["id"]

    # A second reading above the line does not open a second alert (no storm).
    reading(http, GAUGE, 2.11)
    time.sleep(0.5)
    assert [a["id"] for a in open_alerts(http, operator)] == [alert["id"]]

    # Nobody acknowledged within the rule's 1 s: escalated to the city office's director.
    escalated = wait_for(
        lambda: [a for a in open_alerts(http, operator) if a["escalation_level"] == 1]
    )[0]
    assert escalated["department"] == "VPUB"
    assert escalated["assignee"] == "director.vpub"
    wait_for(lambda: mail.to("vpub@cantho.gov.vn"))
    assert stream.result()[:3] == ["ready", "alert.opened", "alert.escalated"]

    acknowledged = http.post(f"/api/alerts/{alert['id']}/acknowledge", headers=operator)
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["status"] == "acknowledged"
    again = http.post(f"/api/alerts/{alert['id']}/acknowledge", headers=operator)
    assert again.status_code == 409

    incident = work_incident(http, operator, alert["id"])
    assert incident["status"] == "closed"
    resolved = http.get(f"/api/alerts/{alert['id']}", headers=operator).json()
    assert resolved["status"] == "resolved"
    kinds = [entry["kind"] for entry in resolved["timeline"]]
    assert kinds == ["opened", "escalated", "acknowledged", "promoted", "resolved"]
    channels = {(n["channel"], n["status"]) for n in resolved["notifications"]}
    assert ("email", "sent") in channels
    assert ("webhook", "sent") in channels


def work_incident(http: TestClient, operator: dict[str, str], alert_id: int) -> dict[str, Any]:
    """Promote the alert, work the SOP checklist, close with a report."""
    body = {"type": "street-flooding-high-tide", "alerts": [alert_id]}
    response = http.post("/api/incidents", json=body, headers=operator)
    assert response.status_code == 201, response.text
    incident = response.json()
    steps = incident["steps"]
    assert len(steps) == 6
    assert steps[0]["title_vi"].startswith("Xác nhận mực nước")
    assert all(step["due_at"] for step in steps)
    url = f"/api/incidents/{incident['id']}"
    early = http.post(f"{url}/close", json={"summary": "nước rút"}, headers=operator)
    assert early.status_code == 409
    for step in steps[:-1]:
        done = {"status": "done", "note": "xong"}
        assert http.post(f"{url}/steps/{step['position']}", json=done, headers=operator).is_success
    skip = http.post(f"{url}/steps/6", json={"status": "skipped"}, headers=operator)
    assert skip.status_code == 400  # skipping needs a reason
    skip = http.post(
        f"{url}/steps/6", json={"status": "skipped", "note": "nước đã rút"}, headers=operator
    )
    assert skip.status_code == 200
    report = {"summary": "Triều cường 2,11 m", "cause": "triều cường", "actions": "đóng cống"}
    closed = http.post(f"{url}/close", json=report, headers=operator)
    assert closed.status_code == 200, closed.text
    written = http.get(f"{url}/report", headers=operator).json()
    assert written["report"]["summary"] == "Triều cường 2,11 m"
    assert written["timeline"][0]["kind"] == "opened"
    assert written["timeline"][-1]["kind"] == "closed"
    result: dict[str, Any] = closed.json()
    return result


def test_hysteresis_keeps_one_alert_until_the_level_falls_below_clear(
    http: TestClient, ioc: FastAPI
) -> None:
    operator = headers_of(http, "operator.ioc")
    gauge(http, 1.5)
    reading(http, GAUGE, 2.02)
    [alert] = wait_for(lambda: open_alerts(http, operator))
    reading(http, GAUGE, 1.97)  # under the alarm line but above `clear`: still firing
    reading(http, GAUGE, 2.01)
    time.sleep(0.5)
    [same] = open_alerts(http, operator)
    assert same["condition_state"] == "firing"
    assert same["fire_count"] == 1
    reading(http, GAUGE, 1.90)
    wait_for(lambda: open_alerts(http, operator)[0]["condition_state"] == "cleared")
    reading(http, GAUGE, 2.05)  # fires again: the same (not resolved) alert, not a new one
    wait_for(lambda: open_alerts(http, operator)[0]["condition_state"] == "firing")
    [again] = open_alerts(http, operator)
    assert again["id"] == alert["id"]
    assert again["fire_count"] == 2


def test_officers_see_only_their_departments_alerts(http: TestClient, ioc: FastAPI) -> None:
    operator = headers_of(http, "operator.ioc")
    gauge(http, 2.3)
    [alert] = wait_for(lambda: open_alerts(http, operator))
    builder = headers_of(http, "officer.build")
    assert open_alerts(http, builder) == []
    assert http.get(f"/api/alerts/{alert['id']}", headers=builder).status_code == 403
    refused = http.post(f"/api/alerts/{alert['id']}/acknowledge", headers=builder)
    assert refused.status_code == 403
    env = headers_of(http, "officer.env")
    assert [a["id"] for a in open_alerts(http, env)] == [alert["id"]]
    citizen_key = {"X-API-Key": ""}
    assert http.get("/api/alerts", headers=citizen_key).status_code == 401


def test_rules_api_validates_and_protects_file_rules(http: TestClient, ioc: FastAPI) -> None:
    operator = headers_of(http, "operator.ioc")
    rule = {
        "id": "do-low",
        "name": "Oxy hòa tan thấp",
        "entity_type": "WaterQualityObserved",
        "condition": {
            "all": [
                {"threshold": {"attribute": "dissolvedOxygen", "op": "<", "value": 4}},
                {"rate": {"attribute": "temperature", "op": ">", "value": 2, "per": "PT1H"}},
            ]
        },
        "severity": "medium",
        "category": "environment",
        "active_windows": [{"days": [1, 2, 3, 4, 5], "from": "06:00", "to": "22:00"}],
    }
    created = http.post("/api/rules", json=rule, headers=operator)
    assert created.status_code == 201, created.text
    assert http.post("/api/rules", json=rule, headers=operator).status_code == 409
    assert http.get("/api/rules/do-low", headers=operator).json()["condition"] == rule["condition"]
    bad = http.post(
        "/api/rules",
        json={**rule, "id": "bad", "condition": {"threshold": {"attribute": "x", "op": "=="}}},
        headers=operator,
    )
    assert bad.status_code == 400
    assert bad.json()["title"] and "op" in bad.json()["detail"]
    assert (
        http.post(
            "/api/rules", json={**rule, "id": "x", "severity": "grave"}, headers=operator
        ).status_code
        == 400
    )
    from_file = http.put("/api/rules/tide-bd3", json=rule, headers=operator)
    assert from_file.status_code == 409
    assert http.delete("/api/rules/tide-bd3", headers=operator).status_code == 409
    assert http.delete("/api/rules/do-low", headers=operator).status_code == 204
    officer = headers_of(http, "officer.env")
    assert http.post("/api/rules", json=rule, headers=officer).status_code == 403
    listed = http.get("/api/rules", headers=officer).json()
    # Besides the domains' default rules (source "domain"), only the file rule is left.
    assert [r["id"] for r in listed if r["source"] != "domain"] == ["tide-bd3"]


def test_seeded_sops_cover_can_tho_incidents(http: TestClient) -> None:
    operator = headers_of(http, "operator.ioc")
    codes = {t["code"] for t in http.get("/api/incident-types", headers=operator).json()}
    assert codes >= {
        "street-flooding-high-tide",
        "salinity-intrusion-intake",
        "traffic-accident-main-road",
        "streetlight-cabinet-outage",
    }


def test_quiet_hours_hold_back_all_but_critical(http: TestClient, ioc: FastAPI) -> None:
    officer = headers_of(http, "officer.env")
    always_quiet = {
        "severities": ["high", "critical"],
        "channels": ["email"],
        "quiet_from": "00:00",
        "quiet_to": "23:59",
    }
    response = http.put("/auth/me/notification-preferences", json=always_quiet, headers=officer)
    assert response.status_code == 200, response.text
    bad = http.put(
        "/auth/me/notification-preferences",
        json={**always_quiet, "channels": ["pigeon"]},
        headers=officer,
    )
    assert bad.status_code == 400
    operator = headers_of(http, "operator.ioc")
    gauge(http, 2.4)
    [alert] = wait_for(lambda: open_alerts(http, operator))
    shown = http.get(f"/api/alerts/{alert['id']}", headers=operator).json()
    assert not [n for n in shown["notifications"] if n["target"] == "env@cantho.gov.vn"]
    manual = {
        "subject_id": GAUGE,
        "subject_type": "WaterObserved",
        "title": "Vỡ bờ kè Ninh Kiều",
        "severity": "critical",
        "department": "SNNMT",
    }
    raised = http.post("/api/alerts", json=manual, headers=operator)
    assert raised.status_code == 201, raised.text
    critical = http.get(f"/api/alerts/{raised.json()['id']}", headers=operator).json()
    assert [n["target"] for n in critical["notifications"]] == ["env@cantho.gov.vn"]


def test_a_rule_made_through_the_api_applies_to_the_very_next_change(
    http: TestClient, ioc: FastAPI
) -> None:
    """The engine reloads rules every few seconds for other processes' changes; one made
    in this process must not wait for that."""
    operator = headers_of(http, "operator.ioc")
    ioc.state.alerting.engine.reload_s = 3600.0  # only an invalidation can reload now
    gauge(http, 1.0)
    reading(http, GAUGE, 1.1)
    wait_for(lambda: ioc.state.alerting.engine.evaluations > 0)  # rules just (re)loaded
    rule = {
        "id": "gauge-above-3",
        "name": "Gauge above 3 m",
        "entity_type": "WaterObserved",
        "condition": {"threshold": {"attribute": "waterLevel", "op": ">=", "value": 3.0}},
        "severity": "high",
    }
    created = http.post("/api/rules", json=rule, headers=operator)
    assert created.status_code == 201, created.text
    reading(http, GAUGE, 3.2)
    found = wait_for(lambda: http.get("/api/alerts?rule=gauge-above-3", headers=operator).json())
    assert found[0]["subject_id"] == GAUGE
