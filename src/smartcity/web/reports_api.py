"""`GET /api/reports/daily`: the daily operations report, as HTML or PDF."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from smartcity.core.auth.deps import Permission
from smartcity.core.auth.policy import Action, Resource
from smartcity.web.i18n import language_of
from smartcity.web.pages import TEMPLATES
from smartcity.web.report import DailyReport, build_report, render_pdf, report_lines

router = APIRouter(prefix="/api/reports", tags=["alerts and incidents"])
ReadAlerts = Depends(Permission(Action.READ, Resource.ALERTS))
#: The report is a standalone document (also an e-mail body): its own inline styles only.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


def render_html(report: DailyReport, lang: str) -> str:
    """The report as a standalone HTML document (inline styles, for e-mail)."""
    template = TEMPLATES.get_template("report.html")
    return template.render(lang=lang, text=report_lines(report, lang))


@router.get("/daily", dependencies=[ReadAlerts])
async def daily_report(request: Request, format: Literal["html", "pdf"] = "html") -> Response:
    """The last 24 hours: indicators, alerts, incidents, devices (`?format=pdf`, `?lang=en`)."""
    state = request.app.state
    report = await run_in_threadpool(build_report, state.alerting, state.kpis, state.database)
    lang = language_of(request)
    if format == "pdf":
        pdf = await run_in_threadpool(render_pdf, report, lang)
        disposition = f'attachment; filename="daily-{report.ends_at:%Y-%m-%d}.pdf"'
        headers = {"content-disposition": disposition}
        return Response(pdf, media_type="application/pdf", headers=headers)
    html = render_html(report, lang)
    return HTMLResponse(html, headers={"content-security-policy": REPORT_CSP})
