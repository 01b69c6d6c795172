"""Alert rules: validation and storage (API and files), and the engine that evaluates them.

The engine runs on the entity change feed (one batch of changes at a time, on the leader):
for each changed entity of a type some rule watches, it reads the entity's current values
once, evaluates each rule's condition (conditions.py) and hands firings and clearings to
the AlertService. Absence-of-data conditions are also checked by a periodic sweep, since
silence produces no change to react to.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as clock
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from smartcity.core.context import repository as context_repo
from smartcity.core.context.errors import BadRequestData, Conflict, ResourceNotFound
from smartcity.core.context.jsonld import ActiveContext
from smartcity.core.context.model import LOCATION_IRI
from smartcity.core.context.repository import EntityRecord
from smartcity.core.context.times import now_us, parse_datetime_us
from smartcity.core.db import Database
from smartcity.core.events import Event

from . import repository as repo
from .conditions import (
    Absence,
    Combined,
    Condition,
    ConditionError,
    LeafState,
    Reading,
    parse_condition,
    parse_duration_s,
)
from .service import SEVERITIES, VIETNAM, AlertService, Firing

log = logging.getLogger(__name__)

_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
_FIELDS = frozenset(
    {
        "id",
        "name",
        "description",
        "enabled",
        "entity_type",
        "id_pattern",
        "condition",
        "severity",
        "category",
        "department",
        "assignee",
        "escalation",
        "active_windows",
        "auto_resolve",
        "incident_type",
    }
)


def validate_rule(raw: Any, source: str = "api") -> dict[str, Any]:
    """A rule's stored form from its JSON/TOML form; BadRequestData says what is wrong."""
    if not isinstance(raw, dict):
        raise BadRequestData("a rule must be an object")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise BadRequestData(f"unknown rule members: {', '.join(sorted(unknown))}")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id):
        raise BadRequestData("rule id: lower-case letters, digits, . _ - (at most 80)")
    try:
        parse_condition(raw.get("condition"))
        escalation = [_escalation_step(step) for step in raw.get("escalation") or []]
        windows = [_window(window) for window in raw.get("active_windows") or []]
    except ConditionError as error:
        raise BadRequestData(f"rule {rule_id}: {error}") from None
    severity = raw.get("severity", "medium")
    if severity not in SEVERITIES:
        raise BadRequestData(f"severity must be one of {', '.join(SEVERITIES)}")
    pattern = raw.get("id_pattern")
    if pattern is not None:
        _compile_pattern(pattern)
    now = now_us()
    return {
        "id": rule_id,
        "name": _text(raw, "name", rule_id),
        "description": raw.get("description"),
        "enabled": bool(raw.get("enabled", True)),
        "entity_type": _text(raw, "entity_type", None),
        "id_pattern": pattern,
        "condition": raw["condition"],
        "severity": severity,
        "category": _text(raw, "category", "general"),
        "department": raw.get("department"),
        "assignee": raw.get("assignee"),
        "escalation": escalation,
        "active_windows": windows,
        "auto_resolve": bool(raw.get("auto_resolve", False)),
        "incident_type": raw.get("incident_type"),
        "source": source,
        "created_at": now,
        "modified_at": now,
    }


def _text(raw: dict[str, Any], key: str, default: str | None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise BadRequestData(f"rule needs a non-empty `{key}`")
    return value


def _compile_pattern(pattern: Any) -> re.Pattern[str]:
    try:
        return re.compile(str(pattern))
    except re.error as error:
        raise BadRequestData(f"id_pattern is not a regular expression: {error}") from None


def _escalation_step(step: Any) -> dict[str, Any]:
    if not isinstance(step, dict) or not (step.get("user") or step.get("department")):
        raise ConditionError("each escalation step needs `after` and a `user` or `department`")
    after_s = parse_duration_s(step.get("after"), "escalation.after")
    return {"after_s": after_s, "user": step.get("user"), "department": step.get("department")}


def _window(window: Any) -> dict[str, Any]:
    """An active window: ISO weekdays (1 = Monday) and HH:MM from/to in Vietnam's time."""
    if not isinstance(window, dict):
        raise ConditionError("an active window is an object with days, from, to")
    days = window.get("days", [1, 2, 3, 4, 5, 6, 7])
    if not isinstance(days, list) or not all(isinstance(d, int) and 1 <= d <= 7 for d in days):
        raise ConditionError("active window days are ISO weekdays 1..7")
    try:
        start = clock.fromisoformat(str(window.get("from", "00:00")))
        end = clock.fromisoformat(str(window.get("to", "23:59")))
    except ValueError:
        raise ConditionError("active window from/to are HH:MM") from None
    return {"days": days, "from": start.isoformat("minutes"), "to": end.isoformat("minutes")}


def within_windows(windows: list[dict[str, Any]], at_us: int) -> bool:
    """Whether a rule is active at `at_us` (no windows: always)."""
    if not windows:
        return True
    moment = datetime.fromtimestamp(at_us / 1e6, VIETNAM)
    for window in windows:
        start, end = clock.fromisoformat(window["from"]), clock.fromisoformat(window["to"])
        now = moment.time()
        inside = start <= now <= end if start <= end else (now >= start or now <= end)
        if inside and moment.isoweekday() in window["days"]:
            return True
    return False


class RuleService:
    """Rules CRUD; rules from files are read-only through the API."""

    def __init__(self, database: Database) -> None:
        self.database = database
        #: Called after every committed rule change in this process (the engine reloads).
        self.on_change: list[Callable[[], None]] = []

    def _changed(self) -> None:
        for callback in self.on_change:
            callback()

    def list(self) -> list[dict[str, Any]]:
        """Every rule."""
        with self.database.read() as conn:
            return repo.list_rules(conn)

    def get(self, rule_id: str) -> dict[str, Any]:
        """One rule; ResourceNotFound."""
        with self.database.read() as conn:
            rule = repo.get_rule(conn, rule_id)
        if rule is None:
            raise ResourceNotFound(f"rule {rule_id} not found")
        return rule

    def put(self, raw: Any, *, creating: bool) -> dict[str, Any]:
        """Create (Conflict if taken) or replace (ResourceNotFound if absent) a rule."""
        rule = validate_rule(raw)

        def job(conn: Connection) -> None:
            current = repo.get_rule(conn, rule["id"])
            if creating and current is not None:
                raise Conflict(f"rule {rule['id']} exists already")
            if not creating and current is None:
                raise ResourceNotFound(f"rule {rule['id']} not found")
            if current is not None:
                _check_editable(current)
                rule["created_at"] = current["created_at"]
            repo.put_rule(conn, rule, current is not None)

        self.database.run_write(job)
        self._changed()
        return rule

    def delete(self, rule_id: str) -> None:
        """Remove a rule made through the API; its alerts stay."""

        def job(conn: Connection) -> None:
            current = repo.get_rule(conn, rule_id)
            if current is None:
                raise ResourceNotFound(f"rule {rule_id} not found")
            _check_editable(current)
            repo.delete_rule(conn, rule_id)

        self.database.run_write(job)
        self._changed()

    def load_files(self, directory: Path) -> int:
        """Install the rules of `directory`/*.toml (`[[rule]]` tables); drop vanished ones."""
        found = [validate_rule(raw, "file") for raw in _read_rule_files(directory)]

        def job(conn: Connection) -> None:
            keep = {rule["id"] for rule in found}
            for stored in repo.list_rules(conn):
                if stored["source"] == "file" and stored["id"] not in keep:
                    repo.delete_rule(conn, stored["id"])
            for rule in found:
                current = repo.get_rule(conn, rule["id"])
                if current is not None and _same(current, rule):
                    continue
                repo.put_rule(conn, rule, current is not None)

        self.database.run_write(job)
        self._changed()
        return len(found)

    def install_defaults(self, raws: Iterable[dict[str, Any]]) -> None:
        """Install rules a domain declares, unless one with the same id exists."""

        def job(conn: Connection) -> None:
            for raw in raws:
                rule = validate_rule(raw, "domain")
                if repo.get_rule(conn, rule["id"]) is None:
                    repo.put_rule(conn, rule, False)

        self.database.run_write(job)


def _check_editable(rule: dict[str, Any]) -> None:
    if rule["source"] == "file":
        raise Conflict(f"rule {rule['id']} comes from a rules file; edit the file instead")


def _same(current: dict[str, Any], new: dict[str, Any]) -> bool:
    ignored = {"created_at", "modified_at"}
    return all(current.get(key) == value for key, value in new.items() if key not in ignored)


def _read_rule_files(directory: Path) -> list[dict[str, Any]]:
    raws: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.toml")) if directory.is_dir() else []:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise BadRequestData(f"{path}: {error}") from None
        rules = document.get("rule", [])
        if not isinstance(rules, list):
            raise BadRequestData(f"{path}: use [[rule]] tables")
        raws.extend(rules)
    return raws


@dataclass
class CompiledRule:
    """A rule ready to evaluate: expanded type and attributes, its condition tree."""

    row: dict[str, Any]
    type_iri: str
    pattern: re.Pattern[str] | None
    condition: Condition
    attr_iris: dict[str, str]
    has_absence: bool
    states: dict[str, dict[int, LeafState]] = field(default_factory=dict)
    #: Whether the whole condition held at the last evaluation, per subject entity.
    active: dict[str, bool] = field(default_factory=dict)

    def selects(self, entity_id: str) -> bool:
        """Whether the rule's id pattern (if any) matches the entity."""
        return self.pattern is None or bool(self.pattern.fullmatch(entity_id))


class RuleEngine:
    """Evaluates the enabled rules on batches of entity changes (see module docstring)."""

    def __init__(
        self,
        database: Database,
        alerts: AlertService,
        ctx: ActiveContext,
        reload_s: float = 2.0,
    ) -> None:
        self.database = database
        self.alerts = alerts
        self.ctx = ctx
        self.reload_s = reload_s
        self.evaluations = 0
        self._rules: dict[str, CompiledRule] = {}
        self._by_type: dict[str, list[CompiledRule]] = {}
        self._version: tuple[int, int] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    # --- rules in memory -----------------------------------------------------------------

    def invalidate(self) -> None:
        """Rules changed in this process: reload before the next evaluation."""
        self._checked = float("-inf")

    def refresh(self, force: bool = False) -> None:
        """Reload rules when they changed (checked at most every reload_s)."""
        if not force and time.monotonic() - self._checked < self.reload_s:
            return
        # Marked before reading: a change committed meanwhile invalidates again, not lost.
        self._checked = time.monotonic()
        with self.database.read() as conn:
            version = repo.rules_changed_at(conn)
            rows = repo.list_rules(conn, enabled_only=True) if version != self._version else None
        if rows is None:
            return
        with self._lock:
            self._install(rows)
            self._version = version

    def _install(self, rows: list[dict[str, Any]]) -> None:
        rules: dict[str, CompiledRule] = {}
        for row in rows:
            old = self._rules.get(row["id"])
            if old is not None and old.row["modified_at"] == row["modified_at"]:
                rules[row["id"]] = old  # unchanged: keep its evaluation state
                continue
            try:
                rules[row["id"]] = self._compile(row)
            except (ConditionError, BadRequestData) as error:
                log.error("rule %s skipped: %s", row["id"], error)
        self._rules = rules
        self._by_type = {}
        for rule in rules.values():
            self._by_type.setdefault(rule.type_iri, []).append(rule)

    def _compile(self, row: dict[str, Any]) -> CompiledRule:
        condition = parse_condition(row["condition"])
        names = condition.attributes()
        return CompiledRule(
            row=row,
            type_iri=self.ctx.expand(row["entity_type"]),
            pattern=_compile_pattern(row["id_pattern"]) if row["id_pattern"] else None,
            condition=condition,
            attr_iris={name: self.ctx.expand(name) for name in names},
            has_absence=_has_absence(condition),
        )

    # --- evaluation ----------------------------------------------------------------------

    def on_changes(self, events: list[Event]) -> None:
        """Evaluate the rules concerned by a batch of entity changes (feed handler)."""
        self.refresh()
        wanted: dict[str, list[CompiledRule]] = {}
        for event in events:
            if event.topic == "entity.delete":
                continue
            for rule in self._by_type.get(event.data["type"], ()):
                if rule.selects(event.subject) and _touches(rule, event):
                    wanted.setdefault(event.subject, []).append(rule)
        if not wanted:
            return
        with self.database.read() as conn:
            records = context_repo.get_entities(conn, list(wanted))
        self._evaluate(
            [(records[eid], rules) for eid, rules in wanted.items() if eid in records], now_us()
        )

    def sweep(self) -> None:
        """Re-check rules with absence conditions on every entity of their type."""
        self.refresh()
        rules = [rule for rule in self._rules.values() if rule.has_absence]
        pairs: list[tuple[EntityRecord, list[CompiledRule]]] = []
        for rule in rules:
            flt = context_repo.EntityFilter(types=[rule.type_iri])
            with self.database.read() as conn:
                records = list(context_repo.iterate_entities(conn, flt))
            pairs += [(rec, [rule]) for rec in records if rule.selects(rec.id)]
        self._evaluate(pairs, now_us())

    def _evaluate(self, pairs: list[tuple[EntityRecord, list[CompiledRule]]], now: int) -> None:
        firings: list[Firing] = []
        clearings: list[tuple[dict[str, Any], str]] = []
        with self._lock:
            for record, rules in pairs:
                for rule in rules:
                    self.evaluations += 1
                    self._evaluate_one(rule, record, now, firings, clearings)
        self.alerts.apply(firings, clearings)

    def _evaluate_one(
        self,
        rule: CompiledRule,
        record: EntityRecord,
        now: int,
        firings: list[Firing],
        clearings: list[tuple[dict[str, Any], str]],
    ) -> None:
        readings = _readings(rule, record)
        states = rule.states.setdefault(record.id, {})
        was = rule.active.get(record.id, False)
        active = rule.condition.evaluate(states, readings, now / 1e6)
        rule.active[record.id] = active
        at = max((r.at_s for r in readings.values()), default=now / 1e6)
        if active and not was and within_windows(rule.row["active_windows"], int(at * 1e6)):
            firings.append(self._firing(rule, record, readings, now))
        elif active and not was:
            rule.active[record.id] = False  # outside its hours: may fire later
        elif was and not active:
            clearings.append((rule.row, record.id))

    def _firing(
        self, rule: CompiledRule, record: EntityRecord, readings: dict[str, Reading], now: int
    ) -> Firing:
        values = {name: reading.value for name, reading in readings.items()}
        location = record.attrs.get(LOCATION_IRI)
        return Firing(
            rule=rule.row,
            subject_id=record.id,
            subject_type=self.ctx.compact(record.types[0]),
            title=f"{rule.row['name']}: {rule.condition.describe()}",
            values=values,
            location=location[0].get("value") if location else None,
            at_us=now,
        )


def _touches(rule: CompiledRule, event: Event) -> bool:
    """Whether a change concerns the rule's attributes (creations always do)."""
    if event.topic != "entity.update" or not event.data.get("attrs"):
        return True
    return bool(set(rule.attr_iris.values()).intersection(event.data["attrs"]))


def _readings(rule: CompiledRule, record: EntityRecord) -> dict[str, Reading]:
    readings: dict[str, Reading] = {}
    for name, iri in rule.attr_iris.items():
        instances = record.attrs.get(iri)
        if not instances:
            continue
        instance = instances[0]
        value = instance.get("value")
        number = None if isinstance(value, bool) or not isinstance(value, int | float) else value
        readings[name] = Reading(
            None if number is None else float(number), _observed_s(instance, record)
        )
    return readings


def _observed_s(instance: dict[str, Any], record: EntityRecord) -> float:
    observed = instance.get("observedAt")
    if isinstance(observed, str):
        try:
            return parse_datetime_us(observed) / 1e6
        except BadRequestData:
            pass
    return record.modified_at / 1e6


def _has_absence(condition: Condition) -> bool:
    if isinstance(condition, Absence):
        return True
    if isinstance(condition, Combined):
        return any(_has_absence(part) for part in condition.parts)
    return False
