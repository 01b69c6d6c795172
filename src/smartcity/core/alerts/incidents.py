"""Incidents: alerts promoted by an operator, worked through their type's SOP checklist.

An incident copies its type's SOP steps (with due times counted from its opening), links the
alerts it was made from, keeps a timeline of everything done, and closes with a report
(summary, cause, actions, the checklist as done, the timeline); closing resolves its alerts.
"""

from __future__ import annotations

import contextlib
import tomllib
from importlib import resources
from typing import Any

from sqlalchemy import Connection

from smartcity.core.context.errors import BadRequestData, Conflict, ResourceNotFound
from smartcity.core.context.times import format_us, now_us
from smartcity.core.db import Database
from smartcity.core.events import Event, EventBus

from . import repository as repo
from .service import SEVERITIES, AlertService

STEP_STATES = ("pending", "done", "skipped")


def seed_sops() -> list[dict[str, Any]]:
    """The incident types shipped with the platform (sops.toml)."""
    text = resources.files("smartcity.core.alerts").joinpath("sops.toml").read_text("utf-8")
    return [validate_incident_type(raw, "seed") for raw in tomllib.loads(text)["incident_type"]]


def validate_incident_type(raw: Any, source: str = "api") -> dict[str, Any]:
    """An incident type's stored form; BadRequestData says what is wrong."""
    if not isinstance(raw, dict):
        raise BadRequestData("an incident type must be an object")
    for key in ("code", "name_vi", "name_en"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise BadRequestData(f"incident type needs a non-empty `{key}`")
    if raw.get("severity", "high") not in SEVERITIES:
        raise BadRequestData(f"severity must be one of {', '.join(SEVERITIES)}")
    steps = raw.get("steps")
    if not isinstance(steps, list) or not steps:
        raise BadRequestData("an incident type needs a non-empty list of steps")
    return {
        "code": raw["code"],
        "name_vi": raw["name_vi"],
        "name_en": raw["name_en"],
        "severity": raw.get("severity", "high"),
        "department": raw.get("department"),
        "steps": [_step(step) for step in steps],
        "source": source,
    }


def _step(step: Any) -> dict[str, Any]:
    if not isinstance(step, dict) or not step.get("title_vi") or not step.get("title_en"):
        raise BadRequestData("each SOP step needs title_vi and title_en")
    deadline = step.get("deadline_min")
    if deadline is not None and (not isinstance(deadline, int) or deadline <= 0):
        raise BadRequestData("deadline_min must be a positive number of minutes")
    return {
        "title_vi": str(step["title_vi"]),
        "title_en": str(step["title_en"]),
        "department": step.get("department"),
        "deadline_min": deadline,
    }


class IncidentService:
    """Incident types (SOPs) and incidents over one database."""

    def __init__(self, database: Database, alerts: AlertService, bus: EventBus) -> None:
        self.database = database
        self.alerts = alerts
        self.bus = bus

    # --- incident types ------------------------------------------------------------------

    def install_seed(self) -> None:
        """Install the shipped SOPs that are not in the database yet."""

        def job(conn: Connection) -> None:
            for sop in seed_sops():
                if repo.get_incident_type(conn, sop["code"]) is None:
                    repo.put_incident_type(conn, sop, False)

        self.database.run_write(job)

    def types(self) -> list[dict[str, Any]]:
        """Every incident type with its checklist."""
        with self.database.read() as conn:
            return repo.list_incident_types(conn)

    def get_type(self, code: str) -> dict[str, Any]:
        """One incident type; ResourceNotFound."""
        with self.database.read() as conn:
            found = repo.get_incident_type(conn, code)
        if found is None:
            raise ResourceNotFound(f"incident type {code} not found")
        return found

    def put_type(self, code: str, raw: Any) -> dict[str, Any]:
        """Create or replace an incident type (admins)."""
        sop = validate_incident_type({**(raw if isinstance(raw, dict) else {}), "code": code})

        def job(conn: Connection) -> None:
            exists = repo.get_incident_type(conn, code) is not None
            repo.put_incident_type(conn, sop, exists)

        self.database.run_write(job)
        return sop

    # --- incidents -----------------------------------------------------------------------

    def promote(
        self, alert_ids: list[int], type_code: str, title: str | None, actor: str
    ) -> dict[str, Any]:
        """Open an incident of `type_code` from alerts; its SOP becomes the checklist."""
        if not alert_ids:
            raise BadRequestData("an incident is made from at least one alert")
        now = now_us()

        def job(conn: Connection) -> int:
            sop = repo.get_incident_type(conn, type_code)
            if sop is None:
                raise BadRequestData(f"unknown incident type {type_code}")
            linked = [self._promotable(conn, alert_id) for alert_id in dict.fromkeys(alert_ids)]
            incident_id = repo.insert_incident(conn, _incident_row(sop, linked, title, actor, now))
            repo.insert_steps(conn, _checklist(incident_id, sop, now))
            for alert in linked:
                repo.update_alert(conn, alert["id"], incident_id=incident_id)
                repo.add_timeline(
                    conn,
                    at=now,
                    actor=actor,
                    kind="promoted",
                    alert_id=alert["id"],
                    detail={"incident_id": incident_id},
                )
            detail = {"alerts": [a["id"] for a in linked], "type": type_code}
            repo.add_timeline(
                conn, at=now, actor=actor, kind="opened", incident_id=incident_id, detail=detail
            )
            return incident_id

        incident_id = self.database.run_write(job)
        return self._published("incident.opened", incident_id)

    def _promotable(self, conn: Connection, alert_id: int) -> dict[str, Any]:
        alert = repo.get_alert(conn, alert_id)
        if alert is None:
            raise BadRequestData(f"alert {alert_id} not found")
        if alert["incident_id"] is not None:
            raise Conflict(f"alert {alert_id} belongs to incident {alert['incident_id']} already")
        return alert

    def get(self, incident_id: int) -> dict[str, Any]:
        """An incident with its checklist, alerts and timeline; ResourceNotFound."""
        with self.database.read() as conn:
            incident = self._existing(conn, incident_id)
            incident["steps"] = [_step_out(s) for s in repo.read_steps(conn, incident_id)]
            incident["alerts"] = repo.alerts_of_incident(conn, incident_id)
            incident["timeline"] = repo.read_timeline(conn, incident_id=incident_id)
        return incident

    def list(
        self, status: str | None = None, departments: Any = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Incidents, newest first."""
        with self.database.read() as conn:
            return repo.list_incidents(conn, status, departments, limit)

    def update_step(
        self, incident_id: int, position: int, status: str, note: str | None, actor: str
    ) -> dict[str, Any]:
        """Mark a checklist step done, skipped (a note says why) or pending again."""
        if status not in STEP_STATES:
            raise BadRequestData(f"step status must be one of {', '.join(STEP_STATES)}")
        if status == "skipped" and not note:
            raise BadRequestData("skipping a step needs a note saying why")
        now = now_us()

        def job(conn: Connection) -> None:
            self._open_incident(conn, incident_id)
            done = status != "pending"
            if not repo.update_step(
                conn,
                incident_id,
                position,
                status=status,
                done_at=now if done else None,
                done_by=actor if done else None,
                note=note,
            ):
                raise ResourceNotFound(f"incident {incident_id} has no step {position}")
            detail = {"position": position, "status": status, "note": note}
            repo.add_timeline(
                conn, at=now, actor=actor, kind="step", incident_id=incident_id, detail=detail
            )

        self.database.run_write(job)
        return self._published("incident.step", incident_id)

    def comment(self, incident_id: int, text: str, actor: str) -> dict[str, Any]:
        """Add a note to the incident's timeline."""
        if not text.strip():
            raise BadRequestData("a comment needs text")

        def job(conn: Connection) -> None:
            self._existing(conn, incident_id)
            repo.add_timeline(
                conn,
                at=now_us(),
                actor=actor,
                kind="comment",
                incident_id=incident_id,
                detail={"text": text.strip()},
            )

        self.database.run_write(job)
        return self._published("incident.commented", incident_id)

    def close(self, incident_id: int, report: Any, actor: str) -> dict[str, Any]:
        """Close with a report (summary required); every step must be done or skipped."""
        if not isinstance(report, dict) or not str(report.get("summary", "")).strip():
            raise BadRequestData("closing an incident needs a report with a summary")
        now = now_us()

        def job(conn: Connection) -> list[int]:
            self._open_incident(conn, incident_id)
            pending = [
                s["position"]
                for s in repo.read_steps(conn, incident_id)
                if s["status"] == "pending"
            ]
            if pending:
                raise Conflict(f"steps {pending} are still pending: mark them done or skipped")
            kept = {k: str(report[k]) for k in ("summary", "cause", "actions") if report.get(k)}
            repo.update_incident(
                conn, incident_id, status="closed", closed_at=now, closed_by=actor, report=kept
            )
            repo.add_timeline(conn, at=now, actor=actor, kind="closed", incident_id=incident_id)
            return [a["id"] for a in repo.alerts_of_incident(conn, incident_id)]

        alert_ids = self.database.run_write(job)
        for alert_id in alert_ids:
            self._resolve_quietly(alert_id, actor)
        return self._published("incident.closed", incident_id)

    def report(self, incident_id: int) -> dict[str, Any]:
        """The closing report: the incident, its checklist as worked, alerts and timeline."""
        incident = self.get(incident_id)
        return {
            "incident": {k: v for k, v in incident.items() if k not in ("steps", "timeline")},
            "report": incident["report"],
            "opened": format_us(incident["opened_at"]),
            "closed": format_us(incident["closed_at"]) if incident["closed_at"] else None,
            "steps": incident["steps"],
            "timeline": incident["timeline"],
        }

    # --- helpers -------------------------------------------------------------------------

    def _resolve_quietly(self, alert_id: int, actor: str) -> None:
        with contextlib.suppress(Conflict):  # resolved already
            self.alerts.resolve(alert_id, actor, "incident closed")

    def _existing(self, conn: Connection, incident_id: int) -> dict[str, Any]:
        incident = repo.get_incident(conn, incident_id)
        if incident is None:
            raise ResourceNotFound(f"incident {incident_id} not found")
        return incident

    def _open_incident(self, conn: Connection, incident_id: int) -> dict[str, Any]:
        incident = self._existing(conn, incident_id)
        if incident["status"] == "closed":
            raise Conflict(f"incident {incident_id} is closed")
        return incident

    def _published(self, topic: str, incident_id: int) -> dict[str, Any]:
        incident = self.get(incident_id)
        summary = {k: v for k, v in incident.items() if k not in ("timeline", "alerts")}
        self.bus.publish(Event(topic, str(incident_id), summary))
        return incident


def _incident_row(
    sop: dict[str, Any], alerts: list[dict[str, Any]], title: str | None, actor: str, now: int
) -> dict[str, Any]:
    first = alerts[0]
    return {
        "type_code": sop["code"],
        "title": title or f"{sop['name_vi']} — {first['title']}",
        "status": "open",
        "severity": _highest([sop["severity"], *(a["severity"] for a in alerts)]),
        "department": sop["department"] or first["department"],
        "commander": actor,
        "location": first["location"],
        "opened_at": now,
        "opened_by": actor,
    }


def _checklist(incident_id: int, sop: dict[str, Any], now: int) -> list[dict[str, Any]]:
    rows = []
    for position, step in enumerate(sop["steps"], start=1):
        deadline = step.get("deadline_min")
        rows.append(
            {
                "incident_id": incident_id,
                "position": position,
                "title_vi": step["title_vi"],
                "title_en": step["title_en"],
                "department": step.get("department"),
                "due_at": now + deadline * 60_000_000 if deadline else None,
                "status": "pending",
            }
        )
    return rows


def _step_out(step: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in step.items() if k != "incident_id"}
    overdue = step["status"] == "pending" and step["due_at"] and step["due_at"] < now_us()
    out["overdue"] = bool(overdue)
    return out


def _highest(severities: list[str]) -> str:
    return max(severities, key=SEVERITIES.index)
