"""The web pages of the IOC: sign-in, the operations dashboard; static files served locally.

Pages are shells: they carry no city data, so they are public like the sign-in form; the data
comes from the APIs, which check the session cookie (a 401 sends the browser to sign-in).
Every page states a Content-Security-Policy that allows nothing from outside the platform
except a configured tile server.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from smartcity.core.auth.deps import Permission
from smartcity.core.auth.errors import NotFound
from smartcity.core.auth.policy import Action, Resource
from smartcity.web import assets
from smartcity.web.i18n import LANGUAGES, gettext_for, js_messages, language_of

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    extensions=["jinja2.ext.i18n"],
)
Public = Depends(Permission(Action.READ, Resource.PUBLIC))
router = APIRouter(tags=["web"], include_in_schema=False)

#: Messages the page scripts show, translated into a JSON data block of each page.
SCRIPT_MESSAGES = [
    "Sign-in failed: check the user name and password.",
    "Too many attempts; wait a minute.",
    "Layers",
    "Alerts",
    "No open alerts",
    "Acknowledge",
    "Resolve",
    "Open entity",
    "Last update",
    "devices",
    "Connection lost; reconnecting…",
    "Live",
    "Signed in as",
    "Sign out",
    "No data",
    "Severity",
    "points",
    "average",
    "min",
    "max",
    "State",
    "Last seen",
    "Device",
    "Details",
    "Comment",
    "Assign to department",
    "Assign to person",
    "Incident type",
    "Promote to incident",
    "due",
    "overdue",
    "done",
    "skipped",
    "pending",
    "open",
    "closed",
    "acknowledged",
    "resolved",
    "low",
    "medium",
    "high",
    "critical",
    "opened",
    "fired",
    "cleared",
    "escalated",
    "assigned",
    "commented",
    "promoted",
    "step",
    "Why skip this step?",
    "Skip",
    "Whole city",
    "Water: river level, flooding, salinity",
    "Traffic",
    "Street lights and waste",
    "Air quality and public order",
    "Full screen",
    "Download",
    "Time",
    "Attribute",
    "Value",
    "Alert",
    "Subject",
    "Opened",
    "Department",
    "Status",
    "yesterday",
    "no comparison yet",
    "Mode",
    "Automatic",
    "Manual",
    "Position",
    "Pending command",
    "Gate open",
    "Gate closed",
    "Open the gate",
    "Close the gate",
    "Device confirmed",
    "Switched to manual",
    "Switched to automatic",
    "Incidents",
    "Incident",
]


def page_csp(tile_url: str | None) -> str:
    """The pages' policy: self only (data: images are MapLibre's control icons)."""
    tiles = ""
    if tile_url:
        origin = "/".join(tile_url.split("/")[:3])
        tiles = " " + origin
    return (
        "default-src 'self'; "
        f"img-src 'self' data: blob:{tiles}; "
        f"connect-src 'self'{tiles}; "
        "worker-src 'self' blob:; child-src 'self' blob:; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
    )


def render(request: Request, template: str, **context: Any) -> HTMLResponse:
    """A page in the visitor's language, with its policy and its scripts' messages."""
    language = language_of(request)
    translate = gettext_for(language)
    environment = TEMPLATES.overlay()
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        translate, lambda s, p, n: translate(s if n == 1 else p), newstyle=True
    )
    settings = request.app.state.settings
    messages = js_messages(language, SCRIPT_MESSAGES)
    config = {"lang": language, "tileUrl": settings.map_tile_url, "messages": messages}
    html = environment.get_template(template).render(
        lang=language,
        languages=LANGUAGES,
        other_language="en" if language == "vi" else "vi",
        page_config=orjson.dumps(config).decode(),
        missing_assets=assets.missing(),
        **context,
    )
    response = HTMLResponse(html)
    response.headers["content-security-policy"] = page_csp(settings.map_tile_url)
    response.headers["cache-control"] = "no-store"
    return response


@router.get("/", dependencies=[Public])
async def home() -> Response:
    """The platform's home is the operations dashboard."""
    return RedirectResponse("/ioc", status_code=302)


@router.get("/login", dependencies=[Public])
async def login_page(request: Request) -> HTMLResponse:
    """Sign-in form (the session cookie of the accounts API)."""
    return render(request, "login.html")


@router.get("/ioc", dependencies=[Public])
async def ioc_page(request: Request) -> HTMLResponse:
    """The operations dashboard: the city map, its layers and the live alerts."""
    return render(request, "ioc.html")


@router.get("/ioc/entities/{entity_id}", dependencies=[Public])
async def entity_page(request: Request, entity_id: str) -> HTMLResponse:
    """One entity: current values, history chart, its device's health and commands."""
    return render(request, "entity.html", entity_id=entity_id)


@router.get("/ioc/incidents", dependencies=[Public])
async def incidents_page(request: Request) -> HTMLResponse:
    """The incident list: open, closed or all, each linking to its checklist."""
    return render(request, "incidents.html")


@router.get("/ioc/incidents/{incident_id}", dependencies=[Public])
async def incident_page(request: Request, incident_id: int) -> HTMLResponse:
    """One incident: its SOP checklist, timeline, comments and closing report."""
    return render(request, "incident.html", incident_id=incident_id)


@router.get("/static/{path:path}", dependencies=[Public])
async def static_file(path: str) -> FileResponse:
    """Our own scripts and styles, and the vendored packages (installed by make)."""
    target = (STATIC_DIR / path).resolve()
    if not target.is_relative_to(STATIC_DIR) or not target.is_file():
        raise NotFound(f"no static file {path!r}")
    media_type = _media_type(target)
    # Vendored files are versioned by the lock file; ours change with the platform.
    max_age = 86400 if "vendor" in target.parts else 60
    return FileResponse(
        target, media_type=media_type, headers={"cache-control": f"public, max-age={max_age}"}
    )


def _media_type(path: Path) -> str:
    if path.suffix in (".mjs", ".js"):
        return "text/javascript"
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"
