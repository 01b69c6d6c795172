"""A domain's declared alert rules are installed and its jobs run on the leader."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from smartcity import app as app_module
from smartcity.config import Settings
from smartcity.core.db import Database
from smartcity.core.registry import Domain, Job

from .support import wait_for

SALINITY_RULE = {
    "id": "salinity-intake",
    "name": "Độ mặn cửa lấy nước vượt ngưỡng",
    "entity_type": "WaterQualityObserved",
    "condition": {"threshold": {"attribute": "salinity", "op": ">", "value": 0.5, "for": 600}},
    "severity": "high",
    "category": "environment",
    "department": "SNNMT",
}


def test_domain_rules_and_jobs(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = threading.Event()
    domain = Domain(
        name="probe",
        alert_rules=(SALINITY_RULE,),
        jobs=(Job("probe-job", timedelta(seconds=0.1), ran.set),),
    )
    monkeypatch.setattr(app_module, "REGISTERED_DOMAINS", [domain])
    app = app_module.create_app(Settings(data_dir=tmp_path), database=database)
    with TestClient(app):
        assert ran.wait(10)
        rules = app.state.alerting.rules.list()
        assert [(r["id"], r["source"]) for r in rules] == [("salinity-intake", "domain")]
        wait_for(lambda: app.state.leadership.is_leader)
