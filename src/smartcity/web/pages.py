"""The web pages of the IOC: sign-in, the operations dashboard; static files served locally.

Pages are shells: they carry no city data, so they are public like the sign-in form; the data
comes from the APIs, which check the session cookie (a 401 sends the browser to sign-in).
Every page states a Content-Security-Policy that allows nothing from outside the platform
except a configured tile server.
"""

from __future__ import annotations

import io
import math
import mimetypes
from functools import cache
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
    # The citizen app (app.js) and the departments' report queue (reports.js).
    "Sign in",
    "Result",
    "Received",
    "Assigned for handling",
    "In progress",
    "More information needed",
    "Resolved",
    "Merged",
    "Very dissatisfied",
    "Dissatisfied",
    "Neutral",
    "Satisfied",
    "Very satisfied",
    "No connection: try again when you are back online.",
    "Your session has ended: sign in again.",
    "Too many reports from this device in the last hour: try again later.",
    "Could not load:",
    "Other",
    "required",
    "Choose…",
    "Your location",
    "Pin on the map",
    "accuracy",
    "This device cannot give its location; place the pin on the map instead.",
    "Finding your location…",
    "Location access was refused; place the pin on the map instead.",
    "Your location could not be found; place the pin on the map instead.",
    "Zoom in",
    "Zoom out",
    "Reset north",
    "Close",
    "Map",
    "Use two fingers to move the map",
    "Use Ctrl + scroll to zoom the map",
    "Use ⌘ + scroll to zoom the map",
    "This file is not a JPEG, PNG or WebP photo:",
    "This photo is larger than 10 MB:",
    "At most 5 photos: the extra ones were left out.",
    "Photo",
    "Remove photo",
    "Choose at least one option for",
    "Follow this report",
    "Sign in to follow a report.",
    "You now follow report",
    "You will be notified when it changes.",
    "Choose where the problem is: use your location, tap the map or write an address.",
    "Checking for similar reports nearby…",
    "Sending…",
    "The report could not be sent:",
    "No location chosen yet.",
    "Requested",
    "Deadline",
    "Your rating",
    "The department asks:",
    "Your answer",
    "Send the answer",
    "How satisfied are you with the result?",
    "Comment (optional)",
    "Send the rating",
    "Thank you for your rating.",
    "reports in the last 90 days",
    "Closed report",
    "Open report",
    "Unknown category",
    "Photo of report",
    "The citizen answered",
    "Note",
    "Public text changed",
    "Hidden from the public",
    "Rated by the citizen",
    "hours",
    "This page is for the officers who handle citizen reports.",
    "Category",
    "Description",
    "Ward",
    "Citizen reports",
    "Assignee",
    "Public text",
    "Address",
    "Location",
    "Citizen's rating",
    "Merged into",
    "Linked device",
    "Reporter",
    "Reported by a signed-in citizen",
    "Reported anonymously",
    "Result photo",
    "Photo from the citizen",
    "internal",
    "Account",
    "First name",
    "Last name",
    "E-mail",
    "Phone",
    "Contact",
    "No contact details were given.",
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


@router.get("/ioc/reports", dependencies=[Public])
async def citizen_reports_page(request: Request) -> HTMLResponse:
    """The departments' queue of citizen reports: deadlines, details, the work on each."""
    return render(request, "reports.html")


# --- Can Tho Smart, the citizen app (installable: a manifest and a service worker) ---------

APP_THEME = "#0b5a3c"
#: The app's icons as PNG, drawn here (iOS home screens and older Android want PNG).
APP_ICON_SIZES = (180, 192, 512)
APP_MANIFEST: dict[str, Any] = {
    "id": "/app",
    "name": "Can Tho Smart",
    "short_name": "Can Tho Smart",
    "description": "Phản ánh hiện trường cho người dân thành phố Cần Thơ: báo ổ gà, ngập nước, "
    "đèn đường hỏng, rác thải… và theo dõi đến khi được xử lý xong.",
    "lang": "vi",
    "dir": "ltr",
    "start_url": "/app",
    "scope": "/app",
    "display": "standalone",
    "theme_color": APP_THEME,
    "background_color": "#f4f6f8",
    "categories": ["government", "utilities"],
    "icons": [
        {"src": "/static/app-icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"},
        {
            "src": "/static/app-icon-maskable.svg",
            "sizes": "any",
            "type": "image/svg+xml",
            "purpose": "maskable",
        },
        *(
            {"src": f"/app/icon-{size}.png", "sizes": f"{size}x{size}", "type": "image/png"}
            for size in APP_ICON_SIZES[1:]
        ),
    ],
}


@router.get("/app", dependencies=[Public])
async def citizen_app(request: Request) -> HTMLResponse:
    """Can Tho Smart: report a problem, follow one's reports, the public map of reports."""
    return render(request, "app.html")


@router.get("/app/manifest.webmanifest", dependencies=[Public])
async def citizen_app_manifest() -> Response:
    """The web app manifest that makes the citizen app installable."""
    return Response(
        orjson.dumps(APP_MANIFEST),
        media_type="application/manifest+json",
        headers={"cache-control": "public, max-age=3600"},
    )


@router.get("/app/sw.js", dependencies=[Public])
async def citizen_app_service_worker() -> FileResponse:
    """The app's service worker, from /app/ so that its scope may be /app itself."""
    return FileResponse(
        STATIC_DIR / "app-sw.js",
        media_type="text/javascript",
        headers={"cache-control": "no-cache", "service-worker-allowed": "/app"},
    )


@router.get("/app/icon-{size}.png", dependencies=[Public])
async def citizen_app_icon(size: int) -> Response:
    """The app's icon as a PNG of 180 (Apple), 192 or 512 pixels."""
    if size not in APP_ICON_SIZES:
        raise NotFound(f"no icon of {size} pixels")
    headers = {"cache-control": "public, max-age=86400"}
    return Response(app_icon_png(size), media_type="image/png", headers=headers)


@cache
def app_icon_png(size: int) -> bytes:
    """The icon (a location pin over the river, as in static/app-icon-maskable.svg), drawn
    four times larger and scaled down for smooth edges; full bleed, the drawing in the centre
    so that round and squircle masks keep all of it."""
    from PIL import Image, ImageDraw

    big = 4 * size
    k = big / 512

    def at(x: float, y: float) -> tuple[float, float]:
        return (x * k, y * k)

    image = Image.new("RGB", (big, big), APP_THEME)
    draw = ImageDraw.Draw(image)
    draw.ellipse([*at(164, 122), *at(348, 306)], fill="#ffffff")
    draw.polygon([at(181.2, 267.6), at(330.8, 267.6), at(256, 372)], fill="#ffffff")
    draw.ellipse([*at(219, 177), *at(293, 251)], fill=APP_THEME)
    wave = [at(x, 384 - 11 * math.sin(math.pi * (x - 140) / 68)) for x in range(140, 413, 2)]
    draw.line(wave, fill="#7fd3f7", width=round(17 * k), joint="curve")
    out = io.BytesIO()
    image.resize((size, size), Image.Resampling.LANCZOS).save(out, format="PNG", optimize=True)
    return out.getvalue()


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
