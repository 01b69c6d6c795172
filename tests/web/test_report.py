"""The daily operations report: HTML and PDF over the API, archived and e-mailed at 07:00."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi.testclient import TestClient

from smartcity.web.i18n import VIETNAM
from smartcity.web.report import DailyReporter
from tests.core.alerts.support import MailServer


def raise_alert(client: TestClient) -> None:
    alert = {
        "subject_id": "urn:ngsi-ld:WaterObserved:can-tho",
        "subject_type": "WaterObserved",
        "title": "Mực nước vượt báo động III",
        "severity": "high",
    }
    response = client.post("/api/alerts", json=alert, headers=admin_headers(client))
    assert response.status_code == 201, response.text


def admin_headers(client: TestClient) -> dict[str, str]:
    service = client.app.state.auth.service  # type: ignore[attr-defined]
    if "report.admin" not in {u.username for u in service.list_users()}:
        service.create_user("report.admin", "Report-pass-2026", "admin", [])
    form = {"grant_type": "password", "username": "report.admin", "password": "Report-pass-2026"}
    token = client.post("/auth/token", data=form, headers={"X-API-Key": ""}).json()
    return {"Authorization": f"Bearer {token['access_token']}", "X-API-Key": ""}


def test_the_report_in_html_and_pdf(client: TestClient) -> None:
    raise_alert(client)
    html = client.get("/api/reports/daily", headers=admin_headers(client))
    assert html.status_code == 200, html.text
    assert "Báo cáo vận hành hằng ngày" in html.text and "Mực nước vượt báo động III" in html.text
    assert "default-src 'none'" in html.headers["content-security-policy"]
    english = client.get("/api/reports/daily?lang=en", headers=admin_headers(client))
    assert "Daily operations report" in english.text
    pdf = client.get("/api/reports/daily?format=pdf", headers=admin_headers(client))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    assert b"DejaVu" in pdf.content  # the embedded font that covers Vietnamese


def test_the_leader_archives_and_mails_it_once_a_day(client: TestClient, tmp_path: Path) -> None:
    raise_alert(client)
    mail = MailServer()
    try:
        app = client.app
        settings = app.state.settings.model_copy(  # type: ignore[attr-defined]
            update={
                "data_dir": tmp_path / "leader",
                "smtp_host": "127.0.0.1",
                "smtp_port": mail.port,
                "daily_report_recipients": ["lanhdao@cantho.gov.vn"],
            }
        )
        from smartcity.web.reports_api import render_html

        state = app.state  # type: ignore[attr-defined]
        reporter = DailyReporter(settings, state.alerting, state.kpis, state.database, render_html)
        assert reporter.run(datetime(2026, 12, 4, 6, 30, tzinfo=VIETNAM)) is None  # before 07:00
        path = reporter.run(datetime(2026, 12, 4, 7, 5, tzinfo=VIETNAM))
        assert path is not None and path.name == "daily-2026-12-04.pdf"
        assert path.read_bytes().startswith(b"%PDF") and path.with_suffix(".html").exists()
        assert reporter.run(datetime(2026, 12, 4, 9, 0, tzinfo=VIETNAM)) is None  # once a day
        [message] = mail.to("lanhdao@cantho.gov.vn")
        assert "Báo cáo vận hành hằng ngày" in str(message["Subject"])
        attachments = [part.get_filename() for part in message.iter_attachments()]
        assert attachments == ["daily-2026-12-04.pdf"]
    finally:
        mail.close()
