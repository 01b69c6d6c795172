"""City indicators (KPIs): declared by domains, computed by core, compared with yesterday.

A domain declares `Kpi(key, titles, unit, compute)` where `compute(reader)` reads current
entities through a `KpiReader` and returns a number (or None without data). The leader
snapshots every indicator every few minutes into `kpi_values`; `GET /api/kpis` shows each
value now, the value 24 hours ago (the snapshot nearest to it) and the trend between them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, Float, MetaData, Table, Text, delete, insert, select

from smartcity.core.context import repository
from smartcity.core.context.jsonld import ActiveContext
from smartcity.core.context.repository import EntityRecord
from smartcity.core.context.service import ContextBroker, EntityQuery
from smartcity.core.context.times import now_us
from smartcity.core.db import Database
from smartcity.core.registry import Domain, Kpi

log = logging.getLogger(__name__)

metadata = MetaData()
kpi_values = Table(
    "kpi_values",
    metadata,
    Column("key", Text, primary_key=True),
    Column("at", BigInteger, primary_key=True),
    Column("value", Float, nullable=False),
)

DAY_US = 86_400 * 1_000_000
#: Snapshots older than this are dropped.
KEEP_DAYS = 400
#: A value within this share of yesterday's counts as flat.
FLAT_SHARE = 0.02
PAGE = 1000


class KpiReader:
    """Current entities, read once per type per computation round."""

    def __init__(self, broker: ContextBroker, ctx: ActiveContext) -> None:
        self.broker = broker
        self.ctx = ctx
        self._cache: dict[str, list[EntityRecord]] = {}

    def entities(self, entity_type: str) -> list[EntityRecord]:
        """Every entity of a type (cached for this round)."""
        if entity_type not in self._cache:
            self._cache[entity_type] = list(self._read(entity_type))
        return self._cache[entity_type]

    def _read(self, entity_type: str) -> list[EntityRecord]:
        records: list[EntityRecord] = []
        while True:
            query = EntityQuery(
                types=[self.ctx.expand(entity_type)], limit=PAGE, offset=len(records)
            )
            page, _ = self.broker.query(query, self.ctx.expand)
            records += page
            if len(page) < PAGE:
                return records

    def values(self, entity_type: str, attr: str) -> list[Any]:
        """The current value of `attr` on every entity of a type that has it."""
        iri = self.ctx.expand(attr)
        out = []
        for record in self.entities(entity_type):
            instances = record.attrs.get(iri)
            if instances:
                out.append(instances[0].get("value", instances[0].get("object")))
        return out

    def numbers(self, entity_type: str, attr: str) -> list[float]:
        """The numeric current values of `attr` (booleans and texts left out)."""
        return [
            float(v)
            for v in self.values(entity_type, attr)
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]

    def history(
        self, entity_type: str, attr: str, since_us: int, limit: int = 200_000
    ) -> dict[str, list[tuple[int, Any]]]:
        """Per entity of a type, the values of `attr` since a time: [(observedAt µs, value)]."""
        ids = [record.id for record in self.entities(entity_type)]
        out: dict[str, list[tuple[int, Any]]] = {entity_id: [] for entity_id in ids}
        if not ids:
            return out
        flt = repository.HistoryFilter(ids, [self.ctx.expand(attr)], since_us, None)
        with self.broker.database.read() as conn:
            rows = repository.read_history(conn, flt, limit=limit)
        for row in rows:
            value = row.instance.get("value", row.instance.get("object"))
            out[str(row.entity_id)].append((int(row.observed_at), value))
        return out

    def value_of(self, entity_type: str, entity_id: str, attr: str) -> Any:
        """One entity's current value of `attr` (None when absent)."""
        iri = self.ctx.expand(attr)
        for record in self.entities(entity_type):
            if record.id == entity_id and record.attrs.get(iri):
                return record.attrs[iri][0].get("value")
        return None


@dataclass(frozen=True)
class KpiValue:
    """An indicator now and 24 hours ago."""

    kpi: Kpi
    domain: str
    value: float | None
    yesterday: float | None

    @property
    def trend(self) -> str | None:
        """up, down or flat against yesterday (None when either is missing)."""
        if self.value is None or self.yesterday is None:
            return None
        scale = max(abs(self.yesterday), 1e-9)
        change = (self.value - self.yesterday) / scale
        if abs(change) <= FLAT_SHARE:
            return "flat"
        return "up" if change > 0 else "down"

    def as_json(self) -> dict[str, Any]:
        """The indicator as the API shows it."""
        return {
            "key": self.kpi.key,
            "domain": self.domain,
            "title": {"vi": self.kpi.title_vi, "en": self.kpi.title_en},
            "unit": self.kpi.unit,
            "value": self.value,
            "yesterday": self.yesterday,
            "trend": self.trend,
        }


class KpiService:
    """Computes the domains' indicators, snapshots them, compares with yesterday."""

    def __init__(
        self,
        database: Database,
        broker: ContextBroker,
        ctx: ActiveContext,
        domains: Callable[[], Sequence[Domain]],
        cache_s: float = 10.0,
    ) -> None:
        self.database = database
        self.broker = broker
        self.ctx = ctx
        self.domains = domains
        self.cache_s = cache_s
        self._cached: tuple[float, list[tuple[str, Kpi, float | None]]] | None = None
        self._lock = threading.Lock()

    def current(self) -> list[tuple[str, Kpi, float | None]]:
        """(domain, kpi, value now) for every declared indicator (cached a few seconds)."""
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self.cache_s:
                return self._cached[1]
            reader = KpiReader(self.broker, self.ctx)
            computed = [(d.name, k, _safe(k, reader)) for d in self.domains() for k in d.kpis]
            self._cached = (time.monotonic(), computed)
            return computed

    def with_yesterday(self) -> list[KpiValue]:
        """Every indicator now, with the snapshot nearest to 24 hours ago."""
        now = self.current()
        target = now_us() - DAY_US
        with self.database.read() as conn:
            return [
                KpiValue(kpi, domain, value, _nearest(conn, kpi.key, target))
                for domain, kpi, value in now
            ]

    def snapshot(self) -> int:
        """Store every indicator's current value (a leader job); how many were stored."""
        at = now_us()
        rows = [
            {"key": kpi.key, "at": at, "value": value}
            for _, kpi, value in self.current()
            if value is not None
        ]

        def job(conn: Any) -> None:
            if rows:
                conn.execute(insert(kpi_values), rows)
            conn.execute(delete(kpi_values).where(kpi_values.c.at < at - KEEP_DAYS * DAY_US))

        self.database.run_write(job)
        return len(rows)


def _safe(kpi: Kpi, reader: KpiReader) -> float | None:
    """A KPI's value; a failing computation is logged and shown as no data."""
    try:
        value = kpi.compute(reader)
    except Exception:
        log.exception("KPI %s failed", kpi.key)
        return None
    return None if value is None else float(value)


def _nearest(conn: Any, key: str, target_us: int) -> float | None:
    """The snapshot of `key` nearest to a time, within an hour of it."""
    window = 3_600 * 1_000_000
    rows = conn.execute(
        select(kpi_values.c.at, kpi_values.c.value).where(
            kpi_values.c.key == key,
            kpi_values.c.at >= target_us - window,
            kpi_values.c.at <= target_us + window,
        )
    ).all()
    if not rows:
        return None
    return float(min(rows, key=lambda row: abs(row.at - target_us)).value)
