"""The daily operations report: the last 24 hours of the city on one page, HTML and PDF.

What leaders ask for every morning: the indicators against yesterday, the alerts raised (by
severity, the most serious listed), incidents opened and closed, and device health. Served at
`GET /api/reports/daily?format=html|pdf`, archived by the leader each day at 07:00 Vietnam
time in `<data dir>/reports/` and, when SMTP and recipients are configured, e-mailed (HTML
body, PDF attached). The PDF is drawn by fpdf2 with the DejaVu Sans font from the npm
registry (installed with the other front-end assets) because it covers Vietnamese.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from fpdf import FPDF
from sqlalchemy import func, select

from smartcity.config import Settings
from smartcity.core.alerts.api import Alerting
from smartcity.core.context.times import now_us
from smartcity.core.db import Database
from smartcity.core.ingest.tables import iot_devices
from smartcity.core.kpis import KpiService
from smartcity.web.i18n import VIETNAM, format_number, gettext_for

log = logging.getLogger(__name__)

FONT_DIR = Path(__file__).resolve().parent / "static" / "vendor" / "dejavu-fonts-ttf"
DAY_US = 86_400 * 1_000_000
SEVERITY_ORDER = ("critical", "high", "medium", "low", "informational")
#: When the leader archives and sends the day's report (Vietnam time).
REPORT_HOUR = 7


@dataclass
class DailyReport:
    """The content of one report."""

    ends_at: datetime
    kpis: list[dict[str, Any]]
    alerts_by_severity: dict[str, int]
    top_alerts: list[dict[str, Any]]
    incidents_opened: int
    incidents_closed: int
    devices: dict[str, int] = field(default_factory=dict)

    @property
    def starts_at(self) -> datetime:
        """The start of the 24 hours covered."""
        return self.ends_at - timedelta(days=1)


def build_report(
    alerting: Alerting, kpis: KpiService, database: Database, end_us: int | None = None
) -> DailyReport:
    """Gather the 24 hours before `end_us` (default: now)."""
    end = end_us or now_us()
    start = end - DAY_US
    recent = [a for a in alerting.alerts.list(limit=5000) if start <= a["opened_at"] < end]
    by_severity = {s: sum(1 for a in recent if a["severity"] == s) for s in SEVERITY_ORDER}
    top = sorted(recent, key=lambda a: (SEVERITY_ORDER.index(a["severity"]), -a["opened_at"]))
    incidents = alerting.incidents.list(limit=5000)
    return DailyReport(
        ends_at=datetime.fromtimestamp(end / 1e6, VIETNAM),
        kpis=[value.as_json() for value in kpis.with_yesterday()],
        alerts_by_severity=by_severity,
        top_alerts=top[:15],
        incidents_opened=sum(1 for i in incidents if start <= i["opened_at"] < end),
        incidents_closed=sum(1 for i in incidents if start <= (i["closed_at"] or 0) < end),
        devices=_device_states(database),
    )


def _device_states(database: Database) -> dict[str, int]:
    with database.read() as conn:
        rows = conn.execute(
            select(iot_devices.c.state, func.count()).group_by(iot_devices.c.state)
        ).all()
    return {str(state): int(count) for state, count in rows}


# --- rendering ------------------------------------------------------------------------------


def report_lines(report: DailyReport, lang: str) -> dict[str, Any]:
    """The report's text, translated and formatted, shared by the HTML and PDF renderings."""
    _ = gettext_for(lang)
    period = f"{report.starts_at:%d/%m/%Y %H:%M} – {report.ends_at:%d/%m/%Y %H:%M}"
    kpis = []
    for k in report.kpis:
        value = "—" if k["value"] is None else f"{format_number(k['value'], lang)} {k['unit']}"
        before = "—" if k["yesterday"] is None else format_number(k["yesterday"], lang)
        kpis.append((k["title"][lang], value.strip(), before, _(k["trend"] or "no comparison yet")))
    alerts = [
        (_(a["severity"]), a["title"], datetime.fromtimestamp(a["opened_at"] / 1e6, VIETNAM))
        for a in report.top_alerts
    ]
    return {
        "title": _("Daily operations report"),
        "period": period,
        "kpis": kpis,
        "severity": [(_(s), n) for s, n in report.alerts_by_severity.items()],
        "alerts": [(s, t, f"{at:%d/%m %H:%M}") for s, t, at in alerts],
        "incidents": (report.incidents_opened, report.incidents_closed),
        "devices": [(_(state), n) for state, n in sorted(report.devices.items())],
        "labels": {
            key: _(key)
            for key in (
                "City indicators", "Indicator", "Now", "yesterday", "Trend", "Alerts",
                "Severity", "Alert", "Opened", "Incidents opened", "Incidents closed",
                "Devices", "State", "Count", "No alerts in these 24 hours",
            )
        },
    }  # fmt: skip


def render_pdf(report: DailyReport, lang: str) -> bytes:
    """The report as a PDF (A4)."""
    text = report_lines(report, lang)
    labels = text["labels"]
    pdf = FPDF(format="A4")
    _fonts(pdf)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    pdf.cell(0, 10, f"{text['title']} — Cần Thơ", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    pdf.cell(0, 6, text["period"], new_x="LMARGIN", new_y="NEXT")
    _table(
        pdf,
        labels["City indicators"],
        [labels["Indicator"], labels["Now"], labels["yesterday"], labels["Trend"]],
        text["kpis"],
        (80, 40, 35, 35),
    )
    _table(pdf, labels["Alerts"], [labels["Severity"], labels["Count"]], text["severity"], (60, 30))
    rows = text["alerts"] or [("", labels["No alerts in these 24 hours"], "")]
    _table(pdf, "", [labels["Severity"], labels["Alert"], labels["Opened"]], rows, (30, 130, 30))
    opened, closed = text["incidents"]
    incidents = [(labels["Incidents opened"], opened), (labels["Incidents closed"], closed)]
    _table(pdf, "", ["", labels["Count"]], incidents, (60, 30))
    _table(pdf, labels["Devices"], [labels["State"], labels["Count"]], text["devices"], (60, 30))
    return bytes(pdf.output())


def _fonts(pdf: FPDF) -> None:
    regular, bold = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
    if not regular.exists():
        raise FileNotFoundError(f"{regular} is missing: run make (front-end assets)")
    pdf.add_font("DejaVu", "", str(regular))
    pdf.add_font("DejaVu", "B", str(bold))


def _table(
    pdf: FPDF, title: str, header: list[str], rows: list[tuple[Any, ...]], widths: tuple[int, ...]
) -> None:
    pdf.ln(3)
    if title:
        pdf.set_font("DejaVu", "B", 12)
        pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "B", 9)
    for text, width in zip(header, widths, strict=True):
        pdf.cell(width, 6, text, border=1)
    pdf.ln()
    pdf.set_font("DejaVu", "", 9)
    for row in rows:
        for value, width in zip(row, widths, strict=True):
            pdf.cell(width, 6, str(value)[: width // 2 + 10], border=1)
        pdf.ln()


# --- the leader's daily job -------------------------------------------------------------------


class DailyReporter:
    """Archives (and e-mails) the report once a day after REPORT_HOUR, Vietnam time."""

    def __init__(
        self,
        settings: Settings,
        alerting: Alerting,
        kpis: KpiService,
        database: Database,
        render_html: Any,
    ) -> None:
        self.settings = settings
        self.alerting = alerting
        self.kpis = kpis
        self.database = database
        self.render_html = render_html
        self.directory = Path(settings.data_dir) / "reports"

    def due(self, now: datetime | None = None) -> Path | None:
        """Today's PDF path if it is time and it was not made yet."""
        local = (now or datetime.now(VIETNAM)).astimezone(VIETNAM)
        path = self.directory / f"daily-{local:%Y-%m-%d}.pdf"
        return path if local.hour >= REPORT_HOUR and not path.exists() else None

    def run(self, now: datetime | None = None) -> Path | None:
        """Make, archive and send today's report when due (a scheduler job)."""
        path = self.due(now)
        if path is None:
            return None
        report = build_report(self.alerting, self.kpis, self.database)
        lang = self.settings.daily_report_language
        pdf, html = render_pdf(report, lang), self.render_html(report, lang)
        self.directory.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".html").write_text(html, encoding="utf-8")
        path.write_bytes(pdf)
        self._mail(html, pdf, path.name, report_lines(report, lang)["title"])
        return path

    def _mail(self, html: str, pdf: bytes, filename: str, subject: str) -> None:
        recipients = self.settings.daily_report_recipients
        if not (self.settings.smtp_host and recipients):
            return
        message = EmailMessage()
        message["From"] = self.settings.smtp_sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = f"{subject} — Cần Thơ"
        message.set_content(subject)
        message.add_alternative(html, subtype="html")
        message.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)
        try:
            with smtplib.SMTP(self.settings.smtp_host, self.settings.smtp_port, timeout=30) as smtp:
                if self.settings.smtp_starttls:
                    smtp.starttls()
                if self.settings.smtp_username:
                    smtp.login(self.settings.smtp_username, self.settings.smtp_password or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException):
            log.exception("daily report archived but not e-mailed")
