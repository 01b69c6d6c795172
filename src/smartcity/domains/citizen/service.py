"""Citizen reports (phản ánh hiện trường): filing, routing, the department's work, the citizen.

A report is filed through Open311 (the citizen app uses the same API), routed to the
department its category names (refined by ward), given a deadline in Vietnamese working days,
mirrored as a `ServiceRequest` NGSI-LD entity (public fields only: the IOC map shows it) and
raised as an alert on the IOC. The department works it (assign, ask the citizen for more
information, notes, close with a result photo, merge duplicates, moderate); the citizen is
notified of every public change and rates the result.

Personal data (who reported, how to reach them) stays in `citizen_requests.contact` and
`reporter_id`: never in Open311 answers or on the NGSI-LD entity; the back office reads it
through an audited route.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from smartcity.core.context.geo import parse_geoquery
from smartcity.core.context.model import LOCATION_IRI
from smartcity.core.context.times import format_us, now_us
from smartcity.core.domainrun import DomainRuntime, PlatformServices
from smartcity.simulator.geography import nearest_ward

from . import deadlines, indicators, open311, photos, repository
from .catalogue import CATALOGUE
from .repository import RequestFilter

log = logging.getLogger(__name__)

#: States of a report; Open311 shows closed and merged as "closed", the rest as "open".
OPEN_STATES = ("received", "assigned", "in_progress", "need_info")
CLOSED_STATES = ("closed", "merged")
#: Open reports of the same category this close (metres) are offered to follow instead.
NEARBY_M = 50.0
SERVICE_REQUEST_TYPE = "ServiceRequest"
M_PER_DEG_LAT = 111_320.0


class ReportError(ValueError):
    """A back-office or citizen action that cannot be done (bad input)."""


class ReportNotFound(ReportError):
    """No such report (or not visible to the caller)."""


class ReportConflict(ReportError):
    """The report's state does not allow it (closed, already rated…)."""


def _dt(us: int | None) -> datetime | None:
    return datetime.fromtimestamp(us / 1e6, tz=UTC) if us is not None else None


def _us(moment: datetime) -> int:
    return round(moment.timestamp() * 1e6)


@dataclass(frozen=True)
class Reporter:
    """Who files a report: a signed-in citizen (user id), or nobody known."""

    user_id: int | None
    actor: str
    client: str  # the device id or client address, for the spam limit


@dataclass
class CitizenService:
    """The citizen domain's business rules over its tables and the platform."""

    platform: PlatformServices
    reports_per_hour: int = 10
    calendar: deadlines.WorkCalendar = deadlines.DEFAULT_CALENDAR

    @property
    def db(self) -> Any:
        """The platform database."""
        return self.platform.database

    # --- catalogue -------------------------------------------------------------------------

    def seed_catalogue(self) -> int:
        """Install the Cần Thơ catalogue when the table is empty; how many entries."""

        def job(conn: Any) -> int:
            if repository.count_services(conn):
                return 0
            for entry in CATALOGUE:
                repository.save_service(conn, _service_row(entry))
            return len(CATALOGUE)

        return int(self.db.run_write(job))

    def services(self, lang: str = "vi") -> list[open311.Service]:
        """The active catalogue as Open311 services."""
        with self.db.read() as conn:
            rows = repository.list_services(conn)
        return [_as_service(row, lang) for row in rows]

    def service(self, code: str, lang: str = "vi") -> open311.Service:
        """One active service; Open311Error 404 when unknown."""
        row = self._service_row(code)
        return _as_service(row, lang)

    def _service_row(self, code: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = repository.get_service(conn, code)
        if row is None or not row["active"]:
            raise open311.Open311Error(404, f"service_code {code!r} not found")
        return row

    def catalogue(self) -> list[dict[str, Any]]:
        """Every entry with its routing and SLA (the admins' view)."""
        with self.db.read() as conn:
            return repository.list_services(conn, active_only=False)

    def save_catalogue_entry(self, code: str, values: dict[str, Any]) -> dict[str, Any]:
        """Create or change a catalogue entry (admins)."""
        row = {**values, "code": code, "updated_at": now_us()}
        if isinstance(row.get("attributes"), list):
            row["attributes"] = {"vi": row["attributes"], "en": row["attributes"]}
        self.db.run_write(lambda conn: repository.save_service(conn, row))
        with self.db.read() as conn:
            saved = repository.get_service(conn, code)
        assert saved is not None
        return saved

    # --- filing ----------------------------------------------------------------------------

    def submit(
        self,
        new: open311.NewRequest,
        raw_photos: Sequence[tuple[bytes, str | None]],
        reporter: Reporter,
    ) -> dict[str, Any]:
        """File a report (Open311 POST): checked, routed, stored, mirrored, raised on the IOC."""
        row = self._service_row(new.service_code)
        self._check_rate(reporter.client)
        try:
            cleaned = photos.clean_photos(raw_photos)
        except photos.PhotoRejected as rejected:
            raise open311.Open311Error(400, str(rejected)) from rejected
        now = now_us()
        ward = (
            nearest_ward(new.lat, new.long).name
            if new.lat is not None and new.long is not None
            else None
        )
        department = (row["ward_departments"] or {}).get(ward or "", row["department"])
        due = deadlines.due_at(_dt(now) or datetime.now(UTC), row["sla_days"], self.calendar)
        report = {
            "token": secrets.token_urlsafe(16),
            "service_code": row["code"],
            "state": "received",
            "description": new.description,
            "public_description": new.description,
            "lat": new.lat,
            "long": new.long,
            "address": new.address_string,
            "ward": ward,
            "attributes": new.attributes,
            "department": department,
            "reporter_id": reporter.user_id,
            "contact": _contact(new),
            "device_id": reporter.client,
            "requested_at": now,
            "updated_at": now,
            "due_at": _us(due),
            "linked_entity": self._nearest_linked(row.get("linked_type"), new.lat, new.long),
        }

        def job(conn: Any) -> int:
            request_id = repository.insert_request(conn, report)
            for photo in cleaned:
                repository.insert_media(conn, _media_row(request_id, "report", photo, now))
            repository.add_update(conn, _update(request_id, now, "received", "received",
                                                None, True, reporter.actor))  # fmt: skip
            return request_id

        request_id = int(self.db.run_write(job))
        saved = self.get_row(request_id)
        self._mirror(saved)
        self._raise_on_ioc(saved, row)
        return saved

    def _check_rate(self, client: str) -> None:
        since = now_us() - 3_600_000_000
        with self.db.read() as conn:
            recent = repository.count_recent_from(conn, client, since)
        if recent >= self.reports_per_hour:
            raise open311.Open311Error(
                429, f"more than {self.reports_per_hour} reports an hour from this device"
            )

    def _nearest_linked(
        self, entity_type: str | None, lat: float | None, lon: float | None
    ) -> str | None:
        """The nearest entity of the linked type within 100 m (a lamp for a dark street)."""
        if not entity_type or lat is None or lon is None:
            return None
        geo = parse_geoquery("near;maxDistance==100", "Point", f"[{lon},{lat}]", LOCATION_IRI)
        found = self.platform.context.query(entity_type, geo=geo, limit=50)
        located = [e for e in found if isinstance(e.get("location"), dict)]
        if not located:
            return None
        best = min(located, key=lambda e: _distance_m(lat, lon, e["location"]))
        return str(best["id"])

    # --- reading ---------------------------------------------------------------------------

    def get_row(self, request_id: int) -> dict[str, Any]:
        """One report's row; ReportNotFound."""
        with self.db.read() as conn:
            row = repository.get_request(conn, request_id)
        if row is None:
            raise ReportNotFound(f"no report {request_id}")
        return row

    def by_token(self, token: str) -> dict[str, Any]:
        """The report behind a submission token."""
        with self.db.read() as conn:
            row = repository.get_request_by_token(conn, token)
        if row is None:
            raise open311.Open311Error(404, "token not found")
        return row

    def find(self, query: open311.RequestQuery) -> list[dict[str, Any]]:
        """Reports for Open311 GET requests."""
        states: tuple[str, ...] = ()
        if query.statuses and set(query.statuses) != {"open", "closed"}:
            states = OPEN_STATES if "open" in query.statuses else CLOSED_STATES
        ids = tuple(int(i) for i in query.service_request_ids if i.isdigit())
        if query.service_request_ids and not ids:
            return []
        flt = RequestFilter(
            ids=ids,
            service_codes=query.service_codes,
            states=states,
            start_us=_us(query.start_date) if query.start_date else None,
            end_us=_us(query.end_date) if query.end_date else None,
        )
        with self.db.read() as conn:
            return repository.list_requests(conn, flt)

    def open311_view(
        self, rows: Sequence[dict[str, Any]], base_url: str, lang: str = "vi"
    ) -> list[dict[str, Any]]:
        """Reports as Open311 service requests (public fields only)."""
        ids = [int(r["id"]) for r in rows]
        with self.db.read() as conn:
            pictures = repository.media_of(conn, ids)
            notes = repository.list_updates(conn, ids, public_only=True)
            catalogue = {s["code"]: s for s in repository.list_services(conn, active_only=False)}
        first_photo: dict[int, int] = {}
        for picture in pictures:
            if picture["kind"] == "report":
                first_photo.setdefault(picture["request_id"], picture["id"])
        last_note: dict[int, str] = {}
        for note in notes:
            if note["note"]:
                last_note[note["request_id"]] = note["note"]
        out = []
        for row in rows:
            service = catalogue.get(row["service_code"], {})
            photo = first_photo.get(row["id"])
            out.append(
                {
                    "service_request_id": str(row["id"]),
                    "status": "closed" if row["state"] in CLOSED_STATES else "open",
                    "status_notes": last_note.get(row["id"]),
                    "service_name": service.get("name_en" if lang == "en" else "name_vi"),
                    "service_code": row["service_code"],
                    "description": None if row["hidden_reason"] else row["public_description"],
                    "agency_responsible": row["department"],
                    "service_notice": None,
                    "requested_datetime": _dt(row["requested_at"]),
                    "updated_datetime": _dt(row["updated_at"]),
                    "expected_datetime": _dt(row["due_at"]),
                    "address": row["address"],
                    "address_id": None,
                    "zipcode": None,
                    "lat": row["lat"],
                    "long": row["long"],
                    "media_url": f"{base_url}/open311/v2/media/{photo}" if photo else None,
                }
            )
        return out

    def case_details(self, request_id: int) -> dict[str, Any]:
        """Everything that happened to a report (internal notes too) and its photos."""
        with self.db.read() as conn:
            history = repository.list_updates(conn, [request_id], public_only=False)
            pictures = repository.media_of(conn, [request_id])
        return {
            "history": [{**entry, "at": _dt(entry["at"])} for entry in history],
            "photos": [
                {"id": p["id"], "kind": p["kind"], "url": f"/open311/v2/media/{p['id']}"}
                for p in pictures
            ],
        }

    def public_updates(self, start: datetime | None, end: datetime | None) -> list[dict[str, Any]]:
        """Public updates for the mySociety servicerequestupdates extension."""
        with self.db.read() as conn:
            rows = repository.list_updates(
                conn,
                start_us=_us(start) if start else None,
                end_us=_us(end) if end else None,
                public_only=True,
            )
        return [
            {
                "update_id": str(row["id"]),
                "service_request_id": str(row["request_id"]),
                "status": "closed" if row["state"] in CLOSED_STATES else "open",
                "updated_datetime": _dt(row["at"]),
                "description": row["note"] or "",
                "media_url": None,
            }
            for row in rows
        ]

    def photo(self, media_id: int) -> dict[str, Any]:
        """A stored photo (of a report that is not hidden)."""
        with self.db.read() as conn:
            found = repository.get_media(conn, media_id)
            report = repository.get_request(conn, found["request_id"]) if found else None
        if found is None or report is None or report["hidden_reason"]:
            raise ReportNotFound(f"no photo {media_id}")
        return found

    def nearby(self, service_code: str, lat: float, lon: float) -> list[dict[str, Any]]:
        """Open reports of a category within NEARBY_M of a point (to follow one instead)."""
        dlat = NEARBY_M / M_PER_DEG_LAT
        dlon = dlat / max(0.1, math.cos(math.radians(lat)))
        flt = RequestFilter(
            service_codes=(service_code,),
            states=OPEN_STATES,
            bbox=(lon - dlon, lat - dlat, lon + dlon, lat + dlat),
            limit=50,
        )
        with self.db.read() as conn:
            rows = repository.list_requests(conn, flt)
        point = {"type": "Point", "coordinates": [lon, lat]}
        return [
            r for r in rows
            if r["lat"] is not None and _distance_m(r["lat"], r["long"], point) <= NEARBY_M
        ]  # fmt: skip

    # --- the department's work -------------------------------------------------------------

    def queue(self, departments: Any, states: Sequence[str] = OPEN_STATES) -> list[dict[str, Any]]:
        """Reports waiting in departments' queues, newest first (None: every department)."""
        flt = RequestFilter(states=tuple(states), departments=departments, limit=500)
        with self.db.read() as conn:
            return repository.list_requests(conn, flt)

    def assign(
        self, request_id: int, actor: str, user: str | None, department: str | None
    ) -> dict[str, Any]:
        """Give the report to a person and/or hand it to another department."""
        if not user and not department:
            raise ReportError("name a user or a department")
        values: dict[str, Any] = {"state": "assigned"}
        if user:
            values["assignee"] = user
        if department:
            values["department"] = department
        note = f"Đã giao cho {user or department}" if user or department else None
        return self._change(request_id, actor, values, "assigned", note, True)

    def start_work(self, request_id: int, actor: str, note: str | None) -> dict[str, Any]:
        """The department is on it."""
        return self._change(request_id, actor, {"state": "in_progress"}, "in_progress", note, True)

    def ask_for_info(self, request_id: int, actor: str, question: str) -> dict[str, Any]:
        """Ask the citizen for more information (the report waits for the answer)."""
        if not question.strip():
            raise ReportError("say what information is needed")
        return self._change(request_id, actor, {"state": "need_info"}, "need_info", question, True)

    def add_note(self, request_id: int, actor: str, note: str, public: bool) -> dict[str, Any]:
        """A status note, public (the citizen sees it) or internal."""
        if not note.strip():
            raise ReportError("a note needs text")
        return self._change(request_id, actor, {}, "note", note, public)

    def close(
        self, request_id: int, actor: str, result: str, photo: tuple[bytes, str | None] | None
    ) -> dict[str, Any]:
        """Close with what was done (and a photo of the result)."""
        if not result.strip():
            raise ReportError("say what was done")
        cleaned = None
        if photo is not None:
            try:
                cleaned = photos.clean_photo(*photo)
            except photos.PhotoRejected as rejected:
                raise ReportError(str(rejected)) from rejected
        now = now_us()
        values = {"state": "closed", "closed_at": now, "result": result}
        saved = self._change(request_id, actor, values, "closed", result, True, photo=cleaned)
        if saved.get("alert_id"):
            self._resolve_alert(int(saved["alert_id"]), actor, result)
        return saved

    def merge(self, request_id: int, into: int, actor: str) -> dict[str, Any]:
        """A duplicate: closed into another report, whose followers it joins."""
        if request_id == into:
            raise ReportError("a report cannot be merged into itself")
        target = self.get_row(into)
        if target["state"] in CLOSED_STATES:
            raise ReportConflict(f"report {into} is closed")
        source = self.get_row(request_id)
        note = f"Trùng với phản ánh #{into}; theo dõi tại phản ánh đó"
        values = {"state": "merged", "merged_into": into, "closed_at": now_us()}
        saved = self._change(request_id, actor, values, "merged", note, True)
        if source["reporter_id"] is not None:
            self.follow(into, int(source["reporter_id"]))
        if saved.get("alert_id"):
            self._resolve_alert(int(saved["alert_id"]), actor, note)
        return saved

    def moderate(
        self, request_id: int, actor: str, public_text: str, reason: str
    ) -> dict[str, Any]:
        """Replace the public text of a report (personal data in it); the reporter is told why."""
        if not reason.strip():
            raise ReportError("say why the text is changed")
        note = f"Nội dung công khai đã được chỉnh sửa: {reason}"
        values = {"public_description": public_text}
        saved = self._change(request_id, actor, values, "moderated", note, False)
        self._notify(saved, note, f"The public text of your report was edited: {reason}")
        return saved

    def hide(self, request_id: int, actor: str, reason: str) -> dict[str, Any]:
        """Hide a report from the public entirely (abuse, personal data), with the reason."""
        if not reason.strip():
            raise ReportError("say why the report is hidden")
        saved = self._change(request_id, actor, {"hidden_reason": reason}, "hidden", reason, False)
        self._notify(saved, f"Phản ánh của bạn đã bị ẩn khỏi công khai: {reason}",
                     f"Your report was hidden from the public: {reason}")  # fmt: skip
        return saved

    # --- the citizen -----------------------------------------------------------------------

    def my_reports(self, user_id: int) -> list[dict[str, Any]]:
        """A citizen's own reports with their public history."""
        with self.db.read() as conn:
            rows = repository.list_requests(conn, RequestFilter(reporter_id=user_id, limit=200))
            history = repository.list_updates(conn, [int(r["id"]) for r in rows])
        by_request: dict[int, list[dict[str, Any]]] = {}
        for entry in history:
            by_request.setdefault(int(entry["request_id"]), []).append(
                {"at": _dt(entry["at"]), "state": entry["state"], "note": entry["note"]}
            )
        return [{**_own_view(row), "history": by_request.get(int(row["id"]), [])} for row in rows]

    def answer(self, request_id: int, user_id: int, text: str) -> dict[str, Any]:
        """The reporter answers a request for information: back to the department."""
        row = self._own(request_id, user_id)
        if row["state"] != "need_info":
            raise ReportConflict("the department has not asked for information")
        return self._change(request_id, f"user:{user_id}", {"state": "assigned"}, "answered",
                            text, True)  # fmt: skip

    def rate(
        self, request_id: int, user_id: int, rating: int, comment: str | None
    ) -> dict[str, Any]:
        """The reporter rates the result of a closed report (1–5, once)."""
        row = self._own(request_id, user_id)
        if row["state"] != "closed":
            raise ReportConflict("only a closed report can be rated")
        if row["rating"] is not None:
            raise ReportConflict("this report is already rated")
        if not 1 <= rating <= 5:
            raise ReportError("rating must be 1 to 5")
        values = {"rating": rating, "rating_comment": comment}
        return self._change(request_id, f"user:{user_id}", values, "rated", None, False)

    def follow(self, request_id: int, user_id: int) -> None:
        """Follow someone else's report (notified like its reporter)."""
        self.get_row(request_id)
        self.db.run_write(lambda conn: repository.add_follow(conn, request_id, user_id, now_us()))

    def notifications(self, user_id: int) -> list[dict[str, Any]]:
        """A citizen's messages, newest first."""
        with self.db.read() as conn:
            rows = repository.list_notifications(conn, user_id)
        return [{**row, "at": _dt(row["at"])} for row in rows]

    def mark_read(self, user_id: int) -> None:
        """Every message read."""
        self.db.run_write(lambda conn: repository.mark_read(conn, user_id))

    def _own(self, request_id: int, user_id: int) -> dict[str, Any]:
        row = self.get_row(request_id)
        if row["reporter_id"] != user_id:
            raise ReportNotFound(f"no report {request_id} of yours")
        return row

    # --- indicators ------------------------------------------------------------------------

    def indicators(self, since: datetime | None = None) -> dict[str, Any]:
        """On-time and satisfaction rates (QĐ 766), median time to close, per department."""
        start = since or datetime.now(UTC) - timedelta(days=365)
        with self.db.read() as conn:
            rows = repository.list_requests(conn, RequestFilter(start_us=_us(start), limit=100_000))
        facts = [facts_of(row) for row in rows if row["state"] != "merged"]
        now = datetime.now(UTC)
        by_ward: dict[str, int] = {}
        for row in rows:
            if row["ward"]:
                by_ward[row["ward"]] = by_ward.get(row["ward"], 0) + 1
        return {
            "reports": len(facts),
            "onTimeRate": indicators.on_time_rate(facts, now),
            "satisfactionRate": indicators.satisfaction_rate(facts, now),
            "medianHoursToClose": indicators.median_hours_to_close(facts),
            "byDepartment": indicators.by_department(facts, now),
            "byWard": by_ward,
        }

    # --- internals -------------------------------------------------------------------------

    def _change(
        self,
        request_id: int,
        actor: str,
        values: dict[str, Any],
        kind: str,
        note: str | None,
        public: bool,
        photo: photos.CleanPhoto | None = None,
    ) -> dict[str, Any]:
        """One step of a report's life: the row, the update log, a photo; then notify."""
        now = now_us()

        def job(conn: Any) -> dict[str, Any]:
            row = repository.get_request(conn, request_id, for_update=True)
            if row is None:
                raise ReportNotFound(f"no report {request_id}")
            closing = kind not in ("rated", "moderated", "hidden", "note")
            if row["state"] in CLOSED_STATES and closing:
                raise ReportConflict(f"report {request_id} is {row['state']}")
            repository.update_request(conn, request_id, {**values, "updated_at": now})
            state = values.get("state", row["state"])
            repository.add_update(conn, _update(request_id, now, state, kind, note, public, actor))
            if photo is not None:
                repository.insert_media(conn, _media_row(request_id, "result", photo, now))
            return {**row, **values, "updated_at": now}

        saved: dict[str, Any] = self.db.run_write(job)
        self._mirror(saved)
        if public and kind != "answered":
            self._notify(saved, *_message(kind, request_id, note))
        return saved

    def _notify(self, row: dict[str, Any], text_vi: str, text_en: str) -> None:
        """A message to the reporter and the report's followers."""
        now = now_us()

        def job(conn: Any) -> None:
            users = set(repository.followers(conn, int(row["id"])))
            if row.get("reporter_id") is not None:
                users.add(int(row["reporter_id"]))
            for user in sorted(users):
                repository.add_notification(conn, {"user_id": user, "request_id": row["id"],
                                                    "at": now, "text_vi": text_vi,
                                                    "text_en": text_en, "read": False})  # fmt: skip

        self.db.run_write(job)

    def _mirror(self, row: dict[str, Any]) -> None:
        """The report's public face as a ServiceRequest entity (the IOC map layer reads it)."""
        if row.get("lat") is None or row.get("long") is None:
            return
        body: dict[str, Any] = {
            "id": entity_id(int(row["id"])),
            "type": SERVICE_REQUEST_TYPE,
            "serviceCode": {"type": "Property", "value": row["service_code"]},
            "status": {"type": "Property", "value": row["state"]},
            "department": {"type": "Property", "value": row["department"]},
            "requestedAt": {"type": "Property", "value": format_us(int(row["requested_at"]))},
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [row["long"], row["lat"]]},
            },
        }
        description = None if row.get("hidden_reason") else row.get("public_description")
        body["name"] = {"type": "Property", "value": (description or row["service_code"])[:120]}
        if row.get("linked_entity"):
            body["refLinkedEntity"] = {"type": "Relationship", "object": row["linked_entity"]}
        try:
            self.platform.context.upsert([body])
        except Exception:  # the report is stored; the map catches up on its next change
            log.exception("could not mirror report %s", row["id"])

    def _raise_on_ioc(self, row: dict[str, Any], service: dict[str, Any]) -> None:
        """An alert for the operations room, located at the report."""
        if self.platform.alerts is None or row.get("lat") is None:
            return
        values = {
            "subject_id": entity_id(int(row["id"])),
            "subject_type": SERVICE_REQUEST_TYPE,
            "title": f"Phản ánh #{row['id']}: {service['name_vi']}",
            "severity": "low",
            "category": "citizen-report",
            "department": row["department"],
            "location": {"type": "Point", "coordinates": [row["long"], row["lat"]]},
        }
        try:
            alert = self.platform.alerts.raise_manual(values, "system:citizen")
        except Exception:
            log.exception("could not raise an IOC alert for report %s", row["id"])
            return
        self.db.run_write(
            lambda conn: repository.update_request(conn, int(row["id"]), {"alert_id": alert["id"]})
        )

    def _resolve_alert(self, alert_id: int, actor: str, note: str) -> None:
        alerts = self.platform.alerts
        if alerts is None:
            return
        try:
            alerts.resolve(alert_id, actor, note)
        except Exception:  # already resolved by an operator
            log.info("alert %s of a citizen report was already resolved", alert_id)


def entity_id(request_id: int) -> str:
    """The NGSI-LD id of a report's public face."""
    return f"urn:ngsi-ld:{SERVICE_REQUEST_TYPE}:{request_id}"


def _distance_m(lat: float, lon: float, location: dict[str, Any]) -> float:
    coords = location.get("coordinates") or [math.inf, math.inf]
    dlat = (float(coords[1]) - lat) * M_PER_DEG_LAT
    dlon = (float(coords[0]) - lon) * M_PER_DEG_LAT * math.cos(math.radians(lat))
    return math.hypot(dlat, dlon)


def _contact(new: open311.NewRequest) -> dict[str, Any] | None:
    contact = {
        "email": new.email,
        "phone": new.phone,
        "first_name": new.first_name,
        "last_name": new.last_name,
    }
    return {k: v for k, v in contact.items() if v} or None


def _update(
    request_id: int, at: int, state: str, kind: str, note: str | None, public: bool, actor: str
) -> dict[str, Any]:
    return {"request_id": request_id, "at": at, "state": state, "kind": kind, "note": note,
            "public": public, "actor": actor}  # fmt: skip


def _media_row(request_id: int, kind: str, photo: photos.CleanPhoto, at: int) -> dict[str, Any]:
    return {"request_id": request_id, "kind": kind, "media_type": photo.media_type,
            "data": photo.data, "sha256": photo.sha256, "width": photo.width,
            "height": photo.height, "created_at": at}  # fmt: skip


def _message(kind: str, request_id: int, note: str | None) -> tuple[str, str]:
    """What the citizen is told about a change, in both languages."""
    texts = {
        "assigned": ("đã được giao xử lý", "has been assigned"),
        "in_progress": ("đang được xử lý", "is being handled"),
        "need_info": ("cần bạn bổ sung thông tin", "needs more information from you"),
        "closed": ("đã được xử lý xong", "has been resolved"),
        "merged": ("được gộp với một phản ánh trùng", "was merged with a duplicate"),
        "note": ("có cập nhật mới", "has an update"),
    }
    vi, en = texts.get(kind, ("có cập nhật", "was updated"))
    suffix = f": {note}" if note else ""
    return f"Phản ánh #{request_id} {vi}{suffix}", f"Report #{request_id} {en}{suffix}"


def _service_row(entry: Any) -> dict[str, Any]:
    """A catalogue entry (catalogue.py) as a table row."""
    return {
        "code": entry.service_code,
        "name_vi": entry.name_vi,
        "name_en": entry.name_en,
        "description_vi": entry.description_vi,
        "description_en": entry.description_en,
        "group_name": entry.group,
        "keywords": list(entry.keywords) + list(entry.keywords_en),
        "department": entry.department,
        "ward_departments": {},
        "sla_days": entry.sla_days,
        "attributes": {
            "vi": [_attribute_json(a) for a in entry.attributes],
            "en": [_attribute_json(a) for a in entry.attributes_en or entry.attributes],
        },
        "linked_type": entry.linked_type,
        "active": True,
        "updated_at": now_us(),
    }


def _attribute_json(attribute: open311.ServiceAttribute) -> dict[str, Any]:
    return {
        "code": attribute.code,
        "datatype": attribute.datatype,
        "required": attribute.required,
        "description": attribute.description,
        "order": attribute.order,
        "variable": attribute.variable,
        "values": [list(v) for v in attribute.values],
        "datatype_description": attribute.datatype_description,
    }


def _as_service(row: dict[str, Any], lang: str) -> open311.Service:
    stored = row["attributes"]
    # Attributes are kept per language ({"vi": [...], "en": [...]}); a plain list is Vietnamese.
    listed = stored.get(lang) or stored.get("vi") or [] if isinstance(stored, dict) else stored
    attributes = tuple(
        open311.ServiceAttribute(
            code=a["code"],
            datatype=a["datatype"],
            required=bool(a["required"]),
            description=a["description"],
            order=int(a["order"]),
            variable=bool(a.get("variable", True)),
            values=tuple((str(k), str(n)) for k, n in a.get("values", [])),
            datatype_description=a.get("datatype_description", ""),
        )
        for a in listed
    )
    english = lang == "en"
    return open311.Service(
        service_code=row["code"],
        service_name=row["name_en"] if english else row["name_vi"],
        description=row["description_en"] if english else row["description_vi"],
        group=row["group_name"],
        keywords=tuple(row["keywords"]),
        metadata=bool(attributes),
        attributes=attributes,
    )


def _own_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "service_code": row["service_code"],
        "state": row["state"],
        "description": row["description"],
        "address": row["address"],
        "lat": row["lat"],
        "long": row["long"],
        "department": row["department"],
        "requested_at": _dt(row["requested_at"]),
        "due_at": _dt(row["due_at"]),
        "closed_at": _dt(row["closed_at"]),
        "result": row["result"],
        "rating": row["rating"],
        "hidden_reason": row["hidden_reason"],
        "public_description": row["public_description"],
    }


def facts_of(row: dict[str, Any]) -> indicators.ReportFacts:
    """A report row as the indicators read it."""
    return indicators.ReportFacts(
        received_at=_dt(row["requested_at"]) or datetime.now(UTC),
        due_at=_dt(row["due_at"]) or datetime.now(UTC),
        closed_at=_dt(row["closed_at"]),
        department=row["department"],
        ward=row["ward"],
        rating=row["rating"],
        status=row["state"],
    )


def setup(platform: PlatformServices) -> DomainRuntime:
    """The citizen domain's runtime: the service its routes use, the catalogue seeded."""
    service = CitizenService(platform, reports_per_hour=platform.settings.citizen_reports_per_hour)
    service.seed_catalogue()
    return DomainRuntime(service=service)
