"""Routes of the citizen domain: Open311 GeoReport v2 at /open311/v2, the back office and the
citizen's own pages' API under /api/citizen."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from smartcity.core.auth.deps import Permission, auth_state, mark_personal_read
from smartcity.core.auth.errors import AuthError
from smartcity.core.auth.policy import Action, Principal, Resource, may_see_record
from smartcity.core.auth.policy import visible_departments as departments_of
from smartcity.core.context.errors import BadRequestData, Conflict, ResourceNotFound

from . import open311
from .service import CitizenService, ReportConflict, Reporter, ReportError, ReportNotFound

T = TypeVar("T")

open311_router = APIRouter(prefix="/open311/v2", tags=["open311"])
router = APIRouter(tags=["citizen"])

Reader = Annotated[Principal, Depends(Permission(Action.READ, Resource.PUBLIC))]
Filer = Annotated[Principal, Depends(Permission(Action.WRITE, Resource.CITIZEN_REPORTS))]
CaseReader = Annotated[Principal, Depends(Permission(Action.READ, Resource.CASEWORK))]
CaseWriter = Annotated[Principal, Depends(Permission(Action.WRITE, Resource.CASEWORK))]
OwnReader = Annotated[Principal, Depends(Permission(Action.READ, Resource.OWN_ACCOUNT))]
OwnWriter = Annotated[Principal, Depends(Permission(Action.WRITE, Resource.OWN_ACCOUNT))]
CatalogueWriter = Annotated[
    Principal, Depends(Permission(Action.WRITE, Resource.SERVICE_CATALOGUE))
]


def citizen(request: Request) -> CitizenService:
    """The citizen domain's service of this process."""
    service: CitizenService = request.app.state.domains["citizen"].service
    return service


Services = Annotated[CitizenService, Depends(citizen)]


def _lang(request: Request) -> str:
    wanted = request.query_params.get("locale") or request.headers.get("accept-language", "vi")
    return "en" if wanted.lower().startswith("en") else "vi"


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _open311(fmt_suffix: str, work: Callable[[str], Any]) -> Response:
    """Run an Open311 handler; its errors as the spec's error array in the asked format."""
    fmt = "json"
    try:
        fmt = open311.format_of(fmt_suffix)
        body, media_type = await run_in_threadpool(work, fmt)
        return Response(body, media_type=media_type)
    except open311.Open311Error as error:
        body, media_type = open311.error_body(list(error.errors), fmt)
        return Response(body, status_code=error.status, media_type=media_type)


# --- Open311 GeoReport v2 ------------------------------------------------------------------


@open311_router.get("/discovery.{fmt}")
async def discovery(fmt: str, request: Request, _caller: Reader) -> Response:
    """Service discovery: where this endpoint is and what it speaks."""
    base = _base(request)
    changeset = datetime(2026, 12, 4, tzinfo=UTC)
    return await _open311(fmt, lambda f: open311.render_discovery(
        base, f, changeset, "ioc@cantho.gov.vn", f"{base}/docs"))  # fmt: skip


@open311_router.get("/services.{fmt}")
async def list_services(
    fmt: str, request: Request, services: Services, _caller: Reader
) -> Response:
    """The service catalogue (Vietnamese by default; ?locale=en)."""
    lang = _lang(request)
    return await _open311(fmt, lambda f: open311.render_services(services.services(lang), f))


@open311_router.get("/services/{service_code}.{fmt}")
async def service_definition(
    service_code: str, fmt: str, request: Request, services: Services, _caller: Reader
) -> Response:
    """A service's attributes (datatypes and value lists)."""
    lang = _lang(request)
    return await _open311(
        fmt, lambda f: open311.render_service_definition(services.service(service_code, lang), f)
    )


@open311_router.post("/requests.{fmt}")
async def create_request(fmt: str, request: Request, services: Services, caller: Filer) -> Response:
    """File a report: form-encoded (or multipart with up to 5 `media` photos)."""
    form = await request.form()
    fields = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    uploads = [v for k, v in form.multi_items() if k == "media" and isinstance(v, UploadFile)]
    raw_photos = [(await upload.read(), upload.content_type) for upload in uploads]

    def work(f: str) -> tuple[bytes, str]:
        reporter = _reporter(request, caller, dict(fields).get("api_key"), dict(fields))
        code = dict(fields).get("service_code")
        service = services.service(code, "vi") if code else None
        new = open311.parse_new_request(fields, service)
        saved = services.submit(new, raw_photos, reporter)
        return open311.render_created(
            [{"service_request_id": str(saved["id"]), "token": saved["token"],
              "service_notice": None, "account_id": None}], f)  # fmt: skip

    return await _open311(fmt, work)


def _reporter(
    request: Request, caller: Principal, api_key: str | None, fields: dict[str, str]
) -> Reporter:
    """Who files: the signed-in caller, or the owner of a valid api_key, or nobody known."""
    principal = caller
    if api_key:
        try:
            principal = auth_state(request).service.principal_from_api_key(api_key)
        except AuthError as error:
            raise open311.Open311Error(403, "api_key is not valid") from error
    user_id = principal.user_id if principal.authenticated else None
    # The spam limit counts per signed-in user, else per device, else per address (mobile
    # carriers put many phones behind one address: signing in lifts that shared limit).
    address = request.client.host if request.client else "unknown"
    client = f"user:{user_id}" if user_id is not None else fields.get("device_id") or address
    return Reporter(user_id=user_id, actor=principal.actor, client=client)


@open311_router.get("/requests.{fmt}")
async def list_requests(
    fmt: str, request: Request, services: Services, _caller: Reader
) -> Response:
    """Reports by id, category, date span (≤ 90 days) and status."""
    params = dict(request.query_params)
    lang, base = _lang(request), _base(request)

    def work(f: str) -> tuple[bytes, str]:
        query = open311.parse_request_query(params, datetime.now(UTC))
        rows = services.find(query)
        return open311.render_requests(services.open311_view(rows, base, lang), f)

    return await _open311(fmt, work)


@open311_router.get("/requests/{service_request_id}.{fmt}")
async def get_request(
    service_request_id: str, fmt: str, request: Request, services: Services, _caller: Reader
) -> Response:
    """One report."""
    lang, base = _lang(request), _base(request)

    def work(f: str) -> tuple[bytes, str]:
        if not service_request_id.isdigit():
            raise open311.Open311Error(404, f"service_request_id {service_request_id} not found")
        try:
            row = services.get_row(int(service_request_id))
        except ReportNotFound as missing:
            raise open311.Open311Error(404, str(missing)) from missing
        return open311.render_requests(services.open311_view([row], base, lang), f)

    return await _open311(fmt, work)


@open311_router.get("/tokens/{token}.{fmt}")
async def get_token(token: str, fmt: str, services: Services, _caller: Reader) -> Response:
    """The report id behind a submission token."""

    def work(f: str) -> tuple[bytes, str]:
        row = services.by_token(token)
        return open311.render_tokens([{"service_request_id": str(row["id"]), "token": token}], f)

    return await _open311(fmt, work)


@open311_router.get("/servicerequestupdates.{fmt}")
async def list_updates(fmt: str, request: Request, services: Services, _caller: Reader) -> Response:
    """Public updates of reports (mySociety extension), by date span."""
    params = request.query_params

    def work(f: str) -> tuple[bytes, str]:
        start = params.get("start_date")
        end = params.get("end_date")
        updates = services.public_updates(
            open311.parse_datetime(start, "start_date") if start else None,
            open311.parse_datetime(end, "end_date") if end else None,
        )
        return open311.render_updates(updates, f)

    return await _open311(fmt, work)


@open311_router.get("/media/{media_id}")
def get_media(media_id: int, services: Services, _caller: Reader) -> Response:
    """A report's photo (cleaned: resized, no metadata)."""
    photo = _call(lambda: services.photo(media_id))
    headers = {"cache-control": "public, max-age=86400", "x-content-type-options": "nosniff"}
    return Response(photo["data"], media_type=photo["media_type"], headers=headers)


# --- back office ---------------------------------------------------------------------------


class Assign(BaseModel):
    """To whom a report goes."""

    user: str | None = None
    department: str | None = None


class Note(BaseModel):
    """A note on a report; public ones reach the citizen."""

    text: str = Field(min_length=1, max_length=4000)
    public: bool = True


class Merge(BaseModel):
    """The report this one duplicates."""

    into: int


class Moderation(BaseModel):
    """What the public sees instead, and why."""

    public_description: str = Field(max_length=4000)
    reason: str = Field(min_length=1, max_length=1000)


class Hiding(BaseModel):
    """Why a report is hidden from the public."""

    reason: str = Field(min_length=1, max_length=1000)


class Rating(BaseModel):
    """The citizen's rating of the result."""

    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


class Answer(BaseModel):
    """The citizen's answer to a request for information."""

    text: str = Field(min_length=1, max_length=4000)


class CatalogueEntry(BaseModel):
    """A catalogue entry as admins edit it."""

    name_vi: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    description_vi: str = ""
    description_en: str = ""
    group_name: str = ""
    keywords: list[str] = []
    department: str = Field(min_length=1)
    ward_departments: dict[str, str] = {}
    sla_days: int = Field(ge=1, le=60)
    #: Open311 attributes: one list for both languages, or {"vi": [...], "en": [...]}.
    attributes: list[dict[str, Any]] | dict[str, list[dict[str, Any]]] = []
    linked_type: str | None = None
    active: bool = True


def _call(work: Callable[[], T]) -> T:
    """Report errors in the platform's problem format."""
    try:
        return work()
    except ReportNotFound as error:
        raise ResourceNotFound(str(error)) from error
    except ReportConflict as error:
        raise Conflict(str(error)) from error
    except ReportError as error:
        raise BadRequestData(str(error)) from error


def _visible(services: CitizenService, principal: Principal, report_id: int) -> dict[str, Any]:
    """The report, if the caller's departments may work it."""
    row = _call(lambda: services.get_row(report_id))
    if not may_see_record(principal, None, row["department"]):
        raise ResourceNotFound(f"no report {report_id}")
    return row


@router.get("/queue")
def queue(services: Services, caller: CaseReader, state: str | None = None) -> list[dict[str, Any]]:
    """Reports in the caller's departments' queues (open ones unless ?state=)."""
    states = (state,) if state else ("received", "assigned", "in_progress", "need_info")
    rows = services.queue(departments_of(caller), states)
    return [_case_view(row) for row in rows]


@router.get("/reports/{report_id}")
def case(report_id: int, services: Services, caller: CaseReader) -> dict[str, Any]:
    """One report as its department works it: history (internal notes too), photos."""
    row = _visible(services, caller, report_id)
    return {**_case_view(row), **services.case_details(report_id)}


@router.get("/reports/{report_id}/contact")
def contact(
    report_id: int, request: Request, services: Services, caller: CaseReader
) -> dict[str, Any]:
    """How to reach the reporter (personal data: the read is audited)."""
    row = _visible(services, caller, report_id)
    mark_personal_read(request, f"citizen report {report_id} contact")
    return {"reporter_id": row["reporter_id"], "contact": row["contact"]}


@router.post("/reports/{report_id}/assign")
def assign(report_id: int, body: Assign, services: Services, caller: CaseWriter) -> dict[str, Any]:
    """Give the report to a person and/or another department."""
    _visible(services, caller, report_id)
    return _case_view(
        _call(lambda: services.assign(report_id, caller.actor, body.user, body.department))
    )


@router.post("/reports/{report_id}/start")
def start(report_id: int, services: Services, caller: CaseWriter) -> dict[str, Any]:
    """The department is working on it."""
    _visible(services, caller, report_id)
    return _case_view(_call(lambda: services.start_work(report_id, caller.actor, None)))


@router.post("/reports/{report_id}/request-info")
def request_info(
    report_id: int, body: Note, services: Services, caller: CaseWriter
) -> dict[str, Any]:
    """Ask the citizen for more information."""
    _visible(services, caller, report_id)
    return _case_view(_call(lambda: services.ask_for_info(report_id, caller.actor, body.text)))


@router.post("/reports/{report_id}/notes")
def add_note(report_id: int, body: Note, services: Services, caller: CaseWriter) -> dict[str, Any]:
    """A status note (public: the citizen sees it)."""
    _visible(services, caller, report_id)
    return _case_view(
        _call(lambda: services.add_note(report_id, caller.actor, body.text, body.public))
    )


@router.post("/reports/{report_id}/close")
async def close(
    report_id: int, request: Request, services: Services, caller: CaseWriter
) -> dict[str, Any]:
    """Close with what was done: JSON {result} or a form with `result` and a `photo`."""
    result, photo = await _result_and_photo(request)
    _visible(services, caller, report_id)
    row = await run_in_threadpool(
        _call, lambda: services.close(report_id, caller.actor, result, photo)
    )
    return _case_view(row)


async def _result_and_photo(request: Request) -> tuple[str, tuple[bytes, str | None] | None]:
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.json()
        return str(body.get("result", "")) if isinstance(body, dict) else "", None
    form = await request.form()
    upload = form.get("photo")
    photo = None
    if isinstance(upload, UploadFile):
        photo = (await upload.read(), upload.content_type)
    result = form.get("result")
    return (result if isinstance(result, str) else ""), photo


@router.post("/reports/{report_id}/merge")
def merge(report_id: int, body: Merge, services: Services, caller: CaseWriter) -> dict[str, Any]:
    """Close a duplicate into another report."""
    _visible(services, caller, report_id)
    return _case_view(_call(lambda: services.merge(report_id, body.into, caller.actor)))


@router.post("/reports/{report_id}/moderate")
def moderate(
    report_id: int, body: Moderation, services: Services, caller: CaseWriter
) -> dict[str, Any]:
    """Change what the public sees of the description; the reporter is told why."""
    _visible(services, caller, report_id)
    return _case_view(
        _call(
            lambda: services.moderate(report_id, caller.actor, body.public_description, body.reason)
        )
    )


@router.post("/reports/{report_id}/hide")
def hide(report_id: int, body: Hiding, services: Services, caller: CaseWriter) -> dict[str, Any]:
    """Hide a report from the public; the reporter is told why."""
    _visible(services, caller, report_id)
    return _case_view(_call(lambda: services.hide(report_id, caller.actor, body.reason)))


@router.get("/indicators")
def indicators(services: Services, _caller: CaseReader) -> dict[str, Any]:
    """On-time and satisfaction rates (QĐ 766), median time to close, by department and ward."""
    return services.indicators()


@router.get("/catalogue")
def catalogue(services: Services, _caller: Reader) -> list[dict[str, Any]]:
    """The service catalogue with routing and deadlines."""
    return services.catalogue()


@router.put("/catalogue/{code}")
def save_catalogue(
    code: str, body: CatalogueEntry, services: Services, _caller: CatalogueWriter
) -> dict[str, Any]:
    """Create or change a catalogue entry (admins)."""
    return services.save_catalogue_entry(code, body.model_dump())


# --- the citizen ---------------------------------------------------------------------------


@router.get("/nearby")
def nearby(
    services: Services, _caller: Reader, service_code: str, lat: float, long: float
) -> list[dict[str, Any]]:
    """Open reports of a category within 50 m (offer to follow one instead of filing)."""
    rows = services.nearby(service_code, lat, long)
    return [{"id": r["id"], "description": None if r["hidden_reason"] else r["public_description"],
             "state": r["state"], "lat": r["lat"], "long": r["long"]} for r in rows]  # fmt: skip


@router.get("/my/reports")
def my_reports(services: Services, caller: OwnReader) -> list[dict[str, Any]]:
    """The caller's own reports with their history (an API key has none)."""
    return services.my_reports(caller.user_id) if caller.user_id is not None else []


@router.get("/my/notifications")
def my_notifications(services: Services, caller: OwnReader) -> list[dict[str, Any]]:
    """Messages about the caller's reports and the ones they follow."""
    return services.notifications(caller.user_id) if caller.user_id is not None else []


@router.post("/my/notifications/read", status_code=204)
def read_notifications(services: Services, caller: OwnWriter) -> None:
    """Mark every message read."""
    services.mark_read(_user(caller))


@router.post("/reports/{report_id}/rating")
def rate(report_id: int, body: Rating, services: Services, caller: OwnWriter) -> dict[str, Any]:
    """Rate the result of one's own closed report."""
    row = _call(lambda: services.rate(report_id, _user(caller), body.rating, body.comment))
    return {"id": row["id"], "rating": row["rating"]}


@router.post("/reports/{report_id}/answer")
def answer(report_id: int, body: Answer, services: Services, caller: OwnWriter) -> dict[str, Any]:
    """Answer the department's request for information."""
    row = _call(lambda: services.answer(report_id, _user(caller), body.text))
    return {"id": row["id"], "state": row["state"]}


@router.post("/reports/{report_id}/follow", status_code=204)
def follow(report_id: int, services: Services, caller: OwnWriter) -> None:
    """Follow a report (notified of its changes) instead of filing a duplicate."""
    _call(lambda: services.follow(report_id, _user(caller)))


def _user(principal: Principal) -> int:
    if principal.user_id is None:
        raise BadRequestData("this needs a signed-in user, not an API key")
    return principal.user_id


def _case_view(row: dict[str, Any]) -> dict[str, Any]:
    """A report as the back office sees it (contact details only through /contact)."""
    hidden = {"contact", "reporter_id", "token", "device_id"}
    return {k: v for k, v in row.items() if k not in hidden} | {
        "reported_by_citizen": row.get("reporter_id") is not None
    }
