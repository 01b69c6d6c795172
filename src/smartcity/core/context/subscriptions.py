"""NGSI-LD subscriptions: validation, storage, matching entity changes, the notification outbox.

A subscription is kept as sent (its terms compacted, with its @context) and compiled into
expanded terms for matching. The change feed hands each batch of entity changes to
`SubscriptionService.on_changes`, which finds the subscriptions they match (entities,
watchedAttributes, q, geoQ, throttling, isActive, expiresAt), renders each entity as the
subscription asks and puts the notifications into `notification_outbox` in one transaction;
the notifier (notifier.py) delivers them, retrying while a receiver is down.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from smartcity.core.db import Database
from smartcity.core.events import Event

from . import geo, model, qlang, repository
from .access import local_name
from .errors import AlreadyExists, BadRequestData, ResourceNotFound
from .jsonld import ActiveContext, ContextResolver
from .tables import notification_outbox, subscriptions
from .times import format_us, now_us, parse_datetime_us

FORMATS = ("normalized", "keyValues", "concise")
#: notificationTrigger values → the change-feed topics they stand for (the feed tells entity
#: creation, update and deletion apart; attribute-level triggers all map to updates).
TRIGGERS = {
    "entityCreated": "entity.create",
    "entityUpdated": "entity.update",
    "entityDeleted": "entity.delete",
    "attributeCreated": "entity.update",
    "attributeUpdated": "entity.update",
    "attributeDeleted": "entity.update",
}
DEFAULT_TRIGGERS = ["entityCreated", "entityUpdated", "attributeCreated", "attributeUpdated"]
#: mqtt://[user:password@]host[:port]/topic (NGSI-LD MQTT notification binding).
_MQTT_URI = re.compile(r"^mqtts?://([^\s/@]+@)?[^\s/@]+/\S+$")
_ALLOWED_MEMBERS = frozenset(
    {
        "id",
        "type",
        "subscriptionName",
        "description",
        "entities",
        "watchedAttributes",
        "notificationTrigger",
        "q",
        "geoQ",
        "timeInterval",
        "isActive",
        "expiresAt",
        "throttling",
        "notification",
        "lang",
        "@context",
        "scopeQ",
        "csf",
        "temporalQ",
        "showChanges",
        "status",
    }
)


@dataclass
class Compiled:
    """A subscription in expanded terms, ready to match changes."""

    id: str
    ctx: ActiveContext
    types: frozenset[str]
    ids: frozenset[str]
    patterns: tuple[re.Pattern[str], ...]
    any_entity: bool
    watched: frozenset[str]
    q: qlang.QExpr | None
    geo_q: geo.GeoQuery | None
    attrs: frozenset[str] | None
    format: str
    hidden_types: frozenset[str]
    throttling_us: int
    #: Periodic subscriptions (timeInterval) notify on a clock, not on changes.
    interval_us: int
    #: Which kinds of change notify (notificationTrigger), as feed topics.
    topics: frozenset[str]
    last_notification: int | None
    endpoint: dict[str, Any] = field(default_factory=dict)

    def wants(self, event: Event) -> bool:
        """Whether an entity change could concern this subscription (before q and geoQ)."""
        if self.interval_us or event.topic not in self.topics:
            return False
        entity_type = event.data["type"]
        if local_name(entity_type) in self.hidden_types:
            return False
        if not self.selects(event.subject, entity_type):
            return False
        if self.watched and event.topic == "entity.update":
            return bool(self.watched.intersection(event.data["attrs"] or ()))
        return True

    def selects(self, entity_id: str, entity_type: str) -> bool:
        """Whether the subscription's `entities` select this entity."""
        if self.any_entity:
            return True
        if self.types and entity_type not in self.types:
            return False
        if self.ids and entity_id not in self.ids:
            return bool(self.patterns) and any(p.fullmatch(entity_id) for p in self.patterns)
        if self.patterns and not self.ids:
            return any(p.fullmatch(entity_id) for p in self.patterns)
        return True


def validate(body: Any, ctx: ActiveContext, *, creating: bool) -> dict[str, Any]:
    """Check a subscription (or fragment) body; the body without @context. BadRequestData."""
    if not isinstance(body, dict):
        raise BadRequestData("a subscription must be a JSON object")
    unknown = set(body) - _ALLOWED_MEMBERS
    if unknown:
        raise BadRequestData(f"unknown subscription members: {', '.join(sorted(unknown))}")
    checked: dict[str, Any] = {k: v for k, v in body.items() if k != "@context"}
    body = checked
    if creating:
        if body.get("type") != "Subscription":
            raise BadRequestData('a subscription needs "type": "Subscription"')
        if "id" in body and not model.is_uri(body["id"]):
            raise BadRequestData("subscription id must be a URI")
        if not body.get("entities") and not body.get("watchedAttributes"):
            raise BadRequestData("a subscription needs entities or watchedAttributes")
        if "notification" not in body:
            raise BadRequestData("a subscription needs a notification member")
    if "timeInterval" in body and body.get("watchedAttributes"):
        raise BadRequestData("a periodic subscription (timeInterval) has no watchedAttributes")
    if "timeInterval" in body and not body.get("entities") and creating:
        raise BadRequestData("a periodic subscription (timeInterval) needs entities")
    compile_subscription("check", {**_PLACEHOLDER, **body}, ctx, frozenset(), None)
    return checked


_PLACEHOLDER: dict[str, Any] = {
    "type": "Subscription",
    "watchedAttributes": ["_"],
    "notification": {"endpoint": {"uri": "http://placeholder.invalid/"}},
}


def compile_subscription(
    sub_id: str,
    body: dict[str, Any],
    ctx: ActiveContext,
    hidden: frozenset[str],
    last_notification: int | None,
) -> Compiled:
    """Expanded, checked form of a stored subscription; BadRequestData on bad members."""
    entities = _list(body.get("entities", []), "entities")
    types, ids, patterns = set(), set(), []
    for selector in entities:
        if not isinstance(selector, dict) or not isinstance(selector.get("type"), str):
            raise BadRequestData("each entities member needs a type")
        types.add(ctx.expand(model.check_name(selector["type"], "entity type")))
        if "id" in selector:
            ids.add(model.check_entity_id(selector["id"]))
        if "idPattern" in selector:
            patterns.append(_pattern(selector["idPattern"]))
    watched = {
        ctx.expand(model.check_name(n))
        for n in _list(body.get("watchedAttributes", []), "watchedAttributes")
    }
    notification = body.get("notification")
    if not isinstance(notification, dict):
        raise BadRequestData("notification must be a JSON object")
    attrs = notification.get("attributes")
    fmt = notification.get("format", "normalized")
    if fmt not in FORMATS:
        raise BadRequestData(f"notification.format must be one of {', '.join(FORMATS)}")
    endpoint = _endpoint(notification.get("endpoint"))
    throttling = body.get("throttling", 0)
    if not isinstance(throttling, int | float) or isinstance(throttling, bool) or throttling < 0:
        raise BadRequestData("throttling must be a non-negative number of seconds")
    interval = body.get("timeInterval", 0)
    if not isinstance(interval, int | float) or isinstance(interval, bool) or interval < 0:
        raise BadRequestData("timeInterval must be a positive number of seconds")
    if "timeInterval" in body and interval < 1:
        raise BadRequestData("timeInterval must be at least 1 second")
    if "isActive" in body and not isinstance(body["isActive"], bool):
        raise BadRequestData("isActive must be true or false")
    if "expiresAt" in body:
        parse_datetime_us(body["expiresAt"], "expiresAt")
    q = qlang.parse_q(body["q"]) if body.get("q") else None
    return Compiled(
        id=sub_id,
        ctx=ctx,
        types=frozenset(types),
        ids=frozenset(ids),
        patterns=tuple(patterns),
        any_entity=not entities,
        watched=frozenset(watched),
        q=q,
        geo_q=_geo_q(body.get("geoQ"), ctx),
        attrs=None
        if attrs is None
        else frozenset(ctx.expand(model.check_name(a)) for a in _list(attrs, "attributes")),
        format=fmt,
        hidden_types=hidden,
        throttling_us=int(throttling * 1e6),
        interval_us=int(interval * 1e6),
        topics=_topics(body.get("notificationTrigger", DEFAULT_TRIGGERS)),
        last_notification=last_notification,
        endpoint=endpoint,
    )


def _topics(triggers: Any) -> frozenset[str]:
    values = _list(triggers, "notificationTrigger")
    unknown = [t for t in values if t not in TRIGGERS]
    if unknown or not values:
        raise BadRequestData(f"notificationTrigger values are {', '.join(TRIGGERS)}")
    return frozenset(TRIGGERS[t] for t in values)


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadRequestData(f"{name} must be an array")
    return value


def _pattern(text: Any) -> re.Pattern[str]:
    if not isinstance(text, str):
        raise BadRequestData("idPattern must be a string")
    try:
        return re.compile(qlang.check_regex(text, "idPattern"))
    except re.error as error:
        raise BadRequestData(f"idPattern is not a regular expression: {error}") from None


def _endpoint(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("uri"), str):
        raise BadRequestData("notification.endpoint.uri is required")
    uri = value["uri"]
    if not re.match(r"^https?://[^\s/]+", uri) and not _MQTT_URI.match(uri):
        raise BadRequestData(
            "notification.endpoint.uri must be an http(s) URL or mqtt(s)://host[:port]/topic"
        )
    accept = value.get("accept", "application/json")
    if accept not in ("application/json", "application/ld+json"):
        raise BadRequestData("endpoint.accept must be application/json or application/ld+json")
    info = value.get("receiverInfo", [])
    if not isinstance(info, list) or not all(
        isinstance(i, dict) and isinstance(i.get("key"), str) and isinstance(i.get("value"), str)
        for i in info
    ):
        raise BadRequestData("receiverInfo must be an array of {key, value} strings")
    notifier_info = value.get("notifierInfo", [])
    if not isinstance(notifier_info, list) or not all(
        isinstance(i, dict) and isinstance(i.get("key"), str) and isinstance(i.get("value"), str)
        for i in notifier_info
    ):
        raise BadRequestData("notifierInfo must be an array of {key, value} strings")
    qos = next((i["value"] for i in notifier_info if i["key"] == "MQTT-QoS"), "0")
    if qos not in ("0", "1", "2"):
        raise BadRequestData("notifierInfo MQTT-QoS must be 0, 1 or 2")
    return {"uri": uri, "accept": accept, "receiverInfo": info, "notifierInfo": notifier_info}


def _geo_q(value: Any, ctx: ActiveContext) -> geo.GeoQuery | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequestData("geoQ must be a JSON object")
    return geo.parse_geoquery(
        value.get("georel"),
        value.get("geometry"),
        value.get("coordinates"),
        ctx.expand(value.get("geoproperty") or "location"),
    )


# --- the service -------------------------------------------------------------------------


class SubscriptionService:
    """Subscriptions over one database, and the matcher the change feed calls."""

    def __init__(self, database: Database, resolver: ContextResolver, cache_s: float = 5.0):
        self.database = database
        self.resolver = resolver
        self.cache_s = cache_s
        # Subscriptions made by another process are noticed within this time.
        self.check_s = 0.2
        self._version: tuple[Any, ...] = ()
        self._checked_at = 0.0
        self._compiled: list[Compiled] = []
        self._by_type: dict[str, list[Compiled]] = {}
        self._any_type: list[Compiled] = []
        self._by_value: ValueIndex = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    # --- CRUD ----------------------------------------------------------------------------

    def create(self, body: dict[str, Any], context: Any, owner: str, hidden: Sequence[str]) -> str:
        """Store a validated subscription; its id."""
        sub_id = body.get("id") or f"urn:ngsi-ld:Subscription:{uuid.uuid4()}"
        now = now_us()
        row = {
            "id": sub_id,
            "owner": owner,
            "body": {**body, "id": sub_id},
            "context": context,
            "hidden_types": sorted(hidden),
            "active": body.get("isActive", True),
            "expires_at": parse_datetime_us(body["expiresAt"]) if "expiresAt" in body else None,
            "times_sent": 0,
            "created_at": now,
            "modified_at": now,
        }

        def job(conn: Connection) -> None:
            if conn.execute(select(subscriptions.c.id).where(subscriptions.c.id == sub_id)).first():
                raise AlreadyExists(f"subscription {sub_id} exists already")
            conn.execute(insert(subscriptions).values(**row))

        self.database.run_write(job)
        self.forget()
        return sub_id

    def get(self, sub_id: str, owner: str | None) -> dict[str, Any]:
        """The stored row; ResourceNotFound (also for another owner's, unless owner is None)."""
        with self.database.read() as conn:
            row = conn.execute(select(subscriptions).where(subscriptions.c.id == sub_id))
            found = row.mappings().first()
        if found is None or (owner is not None and found["owner"] != owner):
            raise ResourceNotFound(f"subscription {sub_id} not found")
        return dict(found)

    def page(self, owner: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
        """Stored rows, oldest first (only the owner's unless owner is None)."""
        stmt = select(subscriptions).order_by(subscriptions.c.created_at, subscriptions.c.id)
        if owner is not None:
            stmt = stmt.where(subscriptions.c.owner == owner)
        with self.database.read() as conn:
            return [dict(r) for r in conn.execute(stmt.limit(limit).offset(offset)).mappings()]

    def update(self, sub_id: str, fragment: dict[str, Any], owner: str | None) -> None:
        """Merge a fragment into a subscription (PATCH)."""
        row = self.get(sub_id, owner)
        body = {**row["body"], **fragment, "id": sub_id}
        values: dict[str, Any] = {"body": body, "modified_at": now_us()}
        if "isActive" in fragment:
            values["active"] = fragment["isActive"]
        if "expiresAt" in fragment:
            values["expires_at"] = parse_datetime_us(fragment["expiresAt"])
        self.database.run_write(
            lambda conn: conn.execute(
                update(subscriptions).where(subscriptions.c.id == sub_id).values(**values)
            )
        )
        self.forget()

    def delete(self, sub_id: str, owner: str | None) -> None:
        """Delete a subscription and its undelivered notifications."""
        self.get(sub_id, owner)

        def job(conn: Connection) -> None:
            conn.execute(delete(subscriptions).where(subscriptions.c.id == sub_id))
            conn.execute(
                delete(notification_outbox).where(notification_outbox.c.subscription_id == sub_id)
            )

        self.database.run_write(job)
        self.forget()

    def forget(self) -> None:
        """Reload the compiled subscriptions on the next change."""
        self._loaded_at = self._checked_at = 0.0

    # --- matching ------------------------------------------------------------------------

    def on_changes(self, events: list[Event]) -> int:
        """Queue the notifications a batch of entity changes causes; how many."""
        self._active()
        by_type, any_type, by_value = self._by_type, self._any_type, self._by_value
        changes = [e for e in events if e.topic in ("entity.create", "entity.update")]
        deleted = self._deletions([e for e in events if e.topic == "entity.delete"])
        wanted = [
            (sub, event)
            for event in changes
            for sub in (*by_type.get(event.data["type"], ()), *any_type)
            if sub.wants(event)
        ]
        valued = [e for e in changes if e.data["type"] in by_value]
        if not wanted and not valued and not deleted:
            return 0
        subjects = {event.subject for _, event in wanted} | {e.subject for e in valued}
        with self.database.read() as conn:
            records = repository.get_entities(conn, subjects)
        wanted += _by_equality(valued, records, by_value)
        now = now_us()
        per_sub: dict[str, tuple[Compiled, list[dict[str, Any]]]] = {}
        for sub, item in deleted:
            per_sub.setdefault(sub.id, (sub, []))[1].append(item)
        for sub, event in wanted:
            record = records.get(event.subject)
            if record is None:
                continue
            as_of = _as_of_change(record, event)
            if _matches(sub, as_of):
                per_sub.setdefault(sub.id, (sub, []))[1].append(_render(sub, as_of))
        rows = [
            _outbox_row(sub, data, now)
            for sub, data in per_sub.values()
            if _not_throttled(sub, now)
        ]
        if rows:
            self.database.run_write(lambda conn: _queue(conn, rows, now))
        return len(rows)

    def _deletions(self, events: list[Event]) -> list[tuple[Compiled, dict[str, Any]]]:
        """(subscription, notified item) for deleted entities; q and geoQ cannot apply."""
        found = []
        for event in events:
            type_iri = event.data["type"]
            valued = self._by_value.get(type_iri, {})
            indexed = [sub for table in valued.values() for subs in table.values() for sub in subs]
            for sub in (*self._by_type.get(type_iri, ()), *indexed, *self._any_type):
                if sub.wants(event):
                    item = {
                        "id": event.subject,
                        "type": sub.ctx.compact(type_iri),
                        "deletedAt": format_us(event.at_us),
                    }
                    found.append((sub, item))
        return found

    def periodic_due(self, limit: int = 1000) -> int:
        """Queue the periodic (timeInterval) notifications that are due; how many."""
        now = now_us()
        rows = []
        for sub in self._active():
            last = sub.last_notification
            if not sub.interval_us or (last is not None and now - last < sub.interval_us):
                continue
            data = self._current_entities(sub, limit)
            sub.last_notification = now
            if data:
                rows.append(_outbox_row(sub, data, now))
        if rows:
            self.database.run_write(lambda conn: _queue(conn, rows, now))
        return len(rows)

    def _current_entities(self, sub: Compiled, limit: int) -> list[dict[str, Any]]:
        """The entities a periodic subscription selects now, rendered as it asks."""
        flt = repository.EntityFilter(types=sorted(sub.types))
        data: list[dict[str, Any]] = []
        with self.database.read() as conn:
            for record in repository.iterate_entities(conn, flt):
                if len(data) >= limit:
                    break
                if local_name(record.types[0]) in sub.hidden_types:
                    continue
                if sub.selects(record.id, record.types[0]) and _matches(sub, record):
                    data.append(_render(sub, record))
        return data

    def _active(self) -> list[Compiled]:
        """The compiled active subscriptions; reloaded when any changed (in any process)."""
        moment = time.monotonic()
        if moment - self._checked_at < self.check_s:
            return self._compiled
        self._checked_at = moment
        with self.database.read() as conn:
            version = conn.execute(
                select(func.count(), func.max(subscriptions.c.modified_at))
            ).one()
            if moment - self._loaded_at < self.cache_s and tuple(version) == self._version:
                return self._compiled
            rows = conn.execute(select(subscriptions).where(subscriptions.c.active.is_(True)))
            stored = [dict(r) for r in rows.mappings()]
        self._version = tuple(version)
        now = now_us()
        compiled = []
        for row in stored:
            if row["expires_at"] is not None and row["expires_at"] < now:
                continue
            ctx = self.resolver.resolve(row["context"])
            compiled.append(
                compile_subscription(
                    row["id"],
                    row["body"],
                    ctx,
                    frozenset(row["hidden_types"]),
                    row["last_notification"],
                )
            )
        by_type: dict[str, list[Compiled]] = {}
        by_value: ValueIndex = {}
        for sub in compiled:
            key = _equality_key(sub)
            for entity_type in sub.types:  # a change only meets the subscriptions of its type
                if key is None:
                    by_type.setdefault(entity_type, []).append(sub)
                else:  # … and, with `q=attr==value`, of the value it has
                    table = by_value.setdefault(entity_type, {}).setdefault(key[0], {})
                    table.setdefault(key[1], []).append(sub)
        with self._lock:
            self._compiled, self._loaded_at = compiled, time.monotonic()
            self._by_type, self._by_value = by_type, by_value
            self._any_type = [sub for sub in compiled if not sub.types]
        return compiled


#: entity type → attribute → value → the subscriptions whose q is `attribute==value`.
ValueIndex = dict[str, dict[str, dict[Any, list[Compiled]]]]


def _equality_key(sub: Compiled) -> tuple[str, Any] | None:
    """(attribute, value) when the subscription's q requires `attribute==value` (at top level)."""
    terms = sub.q.terms if isinstance(sub.q, qlang.And) else (sub.q,)
    for term in terms:
        if (
            isinstance(term, qlang.Compare)
            and term.op == "=="
            and not term.path.subattrs
            and not term.path.keys
            and _index_value(term.value) is not None
        ):
            return sub.ctx.expand(term.path.attr), _index_value(term.value)
    return None


def _index_value(value: Any) -> Any:
    """A hashable form under which equal q and stored values meet (3 and 3.0 alike)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return value if isinstance(value, str) else None


def _by_equality(
    events: list[Event], records: dict[str, repository.EntityRecord], index: ValueIndex
) -> list[tuple[Compiled, Event]]:
    """The (subscription, change) pairs found through the value index."""
    found: list[tuple[Compiled, Event]] = []
    for event in events:
        record = records.get(event.subject)
        if record is None:
            continue
        for attr, table in index[event.data["type"]].items():
            values = {
                _index_value(i.get("value", i.get("object"))) for i in record.attrs.get(attr, ())
            }
            for value in values:
                found += [(sub, event) for sub in table.get(value, ()) if sub.wants(event)]
    return found


def _as_of_change(record: repository.EntityRecord, event: Event) -> repository.EntityRecord:
    """The entity with the instances this change wrote: what it was just after the change,
    as far as the written attributes go (later changes may have moved them on since)."""
    written = event.data.get("attrs")
    if not isinstance(written, dict):
        return record
    if event.topic == "entity.create":
        return dataclasses.replace(record, attrs=written)
    attrs = dict(record.attrs)
    for attr, instances in written.items():
        merged = list(attrs.get(attr, []))
        for instance in instances:
            index = model.find_instance(merged, instance.get("datasetId"))
            if index is None:
                merged.append(instance)
            else:
                merged[index] = instance
        attrs[attr] = merged
    return dataclasses.replace(record, attrs=attrs)


def _matches(sub: Compiled, record: repository.EntityRecord) -> bool:
    if sub.q is not None and not qlang.matches_q(sub.q, record.attrs, sub.ctx.expand):
        return False
    if sub.geo_q is not None:
        instances = record.attrs.get(sub.geo_q.geoproperty) or [{}]
        return sub.geo_q.matches(instances[0].get("value") or {})
    return True


def _render(sub: Compiled, record: repository.EntityRecord) -> dict[str, Any]:
    options = model.RenderOptions(format=sub.format, attrs=sub.attrs)  # type: ignore[arg-type]
    return model.render_entity(record.id, record.types, record.attrs, sub.ctx, options)


def _not_throttled(sub: Compiled, now: int) -> bool:
    """Throttling: at most one notification per `throttling` seconds."""
    last = sub.last_notification
    if sub.throttling_us and last is not None and now - last < sub.throttling_us:
        return False
    sub.last_notification = now
    return True


def _outbox_row(sub: Compiled, data: list[dict[str, Any]], now: int) -> dict[str, Any]:
    payload = {
        "id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
        "type": "Notification",
        "subscriptionId": sub.id,
        "notifiedAt": format_us(now),
        "data": data,
    }
    return {
        "subscription_id": sub.id,
        "payload": {
            "notification": payload,
            "endpoint": sub.endpoint,
            "context": sub.ctx.context_value,
        },
        "created_at": now,
        "attempts": 0,
        "next_attempt_at": now,
    }


def _queue(conn: Connection, rows: list[dict[str, Any]], now: int) -> None:
    conn.execute(insert(notification_outbox), rows)
    for sub_id in {row["subscription_id"] for row in rows}:
        conn.execute(
            update(subscriptions).where(subscriptions.c.id == sub_id).values(last_notification=now)
        )


def subscription_out(row: dict[str, Any]) -> dict[str, Any]:
    """A stored subscription as the API shows it, with its status."""
    now = now_us()
    body = dict(row["body"])
    body["isActive"] = row["active"]
    status = "active"
    if not row["active"]:
        status = "paused"
    elif row["expires_at"] is not None and row["expires_at"] < now:
        status = "expired"
    body["status"] = status
    notification = dict(body.get("notification", {}))
    notification["timesSent"] = row["times_sent"]
    for key, column in (
        ("lastNotification", "last_notification"),
        ("lastSuccess", "last_success"),
        ("lastFailure", "last_failure"),
    ):
        if row[column]:
            notification[key] = format_us(row[column])
    failing = row["last_failure"] and (row["last_success"] or 0) < row["last_failure"]
    notification["status"] = "failed" if failing else "ok"
    body["notification"] = notification
    return body
