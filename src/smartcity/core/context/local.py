"""NGSI-LD for domains in-process: the broker's rules without HTTP or remote contexts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from smartcity.core.db import Database

from . import model, qlang, repository
from .errors import NgsiLdError
from .geo import GeoQuery
from .jsonld import ActiveContext, ContextResolver
from .service import ContextBroker, EntityQuery, history_rows
from .times import now_us, parse_datetime_us


class LocalContextClient:
    """Upsert, read, query and append history with term names of the core context."""

    def __init__(self, database: Database, context: Any = None) -> None:
        self.broker = ContextBroker(database)
        self.ctx: ActiveContext = ContextResolver().resolve(context)

    def upsert(self, payloads: Iterable[Mapping[str, Any]], *, replace: bool = False) -> list[str]:
        """Create or update entities (normalized or concise); return the ids created."""
        now = now_us()
        items = [model.parse_entity(dict(body), self.ctx, now) for body in payloads]
        result, created = self.broker.batch_upsert(items, replace=replace)
        if result.errors:
            raise result.errors[0][1]
        return created

    def get(self, entity_id: str, fmt: model.Format = "keyValues") -> dict[str, Any]:
        """One entity, rendered with the core context."""
        record = self.broker.retrieve(entity_id)
        return model.render_entity(
            record.id, record.types, record.attrs, self.ctx, model.RenderOptions(format=fmt)
        )

    def query(
        self,
        entity_type: str | None = None,
        q: str | None = None,
        geo: GeoQuery | None = None,
        *,
        limit: int = 1000,
        offset: int = 0,
        fmt: model.Format = "keyValues",
    ) -> list[dict[str, Any]]:
        """Entities by type, q and geo-query, rendered with the core context."""
        if geo is not None and ":" not in geo.geoproperty:
            # A term such as "location" (as the HTTP API takes it) names the expanded IRI.
            geo = replace(geo, geoproperty=self.ctx.expand(geo.geoproperty))
        query = EntityQuery(
            types=[self.ctx.expand(entity_type)] if entity_type else [],
            q=qlang.parse_q(q) if q else None,
            geo=geo,
            limit=limit,
            offset=offset,
        )
        records, _ = self.broker.query(query, self.ctx.expand)
        options = model.RenderOptions(format=fmt)
        return [model.render_entity(r.id, r.types, r.attrs, self.ctx, options) for r in records]

    def series(
        self,
        entity_id: str,
        attrs: Iterable[str],
        start_us: int | None = None,
        end_us: int | None = None,
        limit: int = 50_000,
    ) -> dict[str, list[tuple[int, Any]]]:
        """History of some attributes: short name → [(observedAt µs, value)], oldest first."""
        names = {self.ctx.expand(name): name for name in attrs}
        flt = repository.HistoryFilter([entity_id], list(names), start_us, end_us)
        with self.broker.database.read() as conn:
            rows = repository.read_history(conn, flt, limit=limit)
        out: dict[str, list[tuple[int, Any]]] = {name: [] for name in names.values()}
        for row in rows:
            instance = row.instance
            value = instance.get("value", instance.get("object"))
            out[names[str(row.attr)]].append((int(row.observed_at), value))
        return out

    def latest(self, entity_id: str) -> dict[str, tuple[Any, int | None]]:
        """Current values with their observedAt (µs; None when not given): name → (value, at)."""
        record = self.broker.retrieve(entity_id)
        out: dict[str, tuple[Any, int | None]] = {}
        for iri, instances in record.attrs.items():
            if not instances:
                continue
            first = instances[0]
            observed = first.get("observedAt")
            at = parse_datetime_us(observed) if isinstance(observed, str) else None
            out[self.ctx.compact(iri)] = (first.get("value", first.get("object")), at)
        return out

    def append_history(
        self, entity_id: str, entity_type: str, attributes: Mapping[str, list[Any]]
    ) -> int:
        """Write history instances directly (each with observedAt); return how many."""
        now = now_us()
        attrs = {
            self.ctx.expand(name): model.parse_attribute(
                name, instances, self.ctx, now, temporal=True
            )
            for name, instances in attributes.items()
        }
        record = repository.EntityRecord(
            id=model.check_entity_id(entity_id),
            types=[self.ctx.expand(entity_type)],
            attrs=attrs,
            created_at=now,
            modified_at=now,
        )
        rows = history_rows(record, attrs, now)
        self.broker.database.run_write(lambda conn: repository.append_history(conn, rows))
        return len(rows)


__all__ = ["LocalContextClient", "NgsiLdError"]
