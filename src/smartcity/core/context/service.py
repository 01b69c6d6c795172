"""The context broker's operations: the rules of NGSI-LD, shared by HTTP and Python callers.

Everything here works on the stored (expanded) form; JSON-LD expansion and compaction
happen at the edges (api.py for HTTP, `ContextBroker.upsert` for domains).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from smartcity.core.db import Database, Job, write_operation

from . import model, qlang, repository
from .errors import AlreadyExists, NgsiLdError, ResourceNotFound
from .geo import GeoQuery
from .model import Attrs, EntityInput
from .repository import EntityFilter, EntityRecord, HistoryRow, Selector
from .times import format_us, now_us, parse_datetime_us


@dataclass
class UpdateResult:
    """What an attribute append/update changed (NGSI-LD UpdateResult)."""

    updated: list[str] = field(default_factory=list)
    not_updated: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class BatchResult:
    """Per-entity outcome of a batch operation (NGSI-LD BatchOperationResult)."""

    success: list[str] = field(default_factory=list)
    errors: list[tuple[str, NgsiLdError]] = field(default_factory=list)


#: Set by a route for the write it is about to make: called with the locked entity's types
#: inside the write job, it raises to refuse (access checks without a separate read).
WRITE_GUARD: ContextVar[Callable[[list[str]], None] | None] = ContextVar(
    "WRITE_GUARD", default=None
)


@dataclass
class EntityQuery:
    """A query of current entities, in expanded terms."""

    types: Sequence[str] = ()
    ids: Sequence[str] = ()
    id_pattern: str | None = None
    selectors: Sequence[Selector] = ()
    attrs: Sequence[str] = ()
    q: qlang.QExpr | None = None
    geo: GeoQuery | None = None
    limit: int = 20
    offset: int = 0
    count: bool = False
    #: Local names of entity types the caller may not see (personal data).
    hidden_type_names: Sequence[str] = ()


def history_rows(record: EntityRecord, attrs: Attrs, now: int) -> list[HistoryRow]:
    """One history row per instance written (observedAt, else the time of the write)."""
    rows = []
    for iri, instances in attrs.items():
        for inst in instances:
            observed = inst.get("observedAt")
            rows.append(
                HistoryRow(
                    entity_id=record.id,
                    entity_type=record.types[0],
                    attr=iri,
                    dataset_id=inst.get("datasetId"),
                    observed_at=parse_datetime_us(observed) if observed else now,
                    value_num=model.numeric_value(inst),
                    instance=inst,
                )
            )
    return rows


@dataclass(frozen=True)
class Observation:
    """One timestamped value of one attribute of one entity (sensor data, from ingestion)."""

    entity_id: str
    entity_type: str
    attr: str
    instance: dict[str, Any]
    observed_us: int
    number: float | None


@dataclass
class ObservationResult:
    """What `record_observations` stored."""

    stored: int = 0
    duplicates: int = 0
    created: list[str] = field(default_factory=list)


def record_observations(
    conn: Connection, observations: Sequence[Observation], now: int
) -> ObservationResult:
    """The broker's batch path for sensor data, inside the caller's write transaction.

    Every value goes to the history once: an (entity, attribute, observedAt) already stored
    or repeated in the batch is skipped, so a message delivered twice (MQTT QoS 1 after a
    crash) is stored once. Each entity keeps its newest value per attribute; values older
    than the current one (late, out of order) only go to the history. Entities that do not
    exist yet are created with the observation's type.
    """
    result = ObservationResult()
    fresh = _unseen(conn, observations, result)
    if not fresh:
        return result
    records = repository.get_entities(conn, {o.entity_id for o in fresh}, for_update=True)
    new: dict[str, EntityRecord] = {}
    stamp = format_us(now)
    history: list[HistoryRow] = []
    for obs in fresh:
        record = records.get(obs.entity_id) or new.get(obs.entity_id)
        if record is None:
            record = new[obs.entity_id] = EntityRecord(
                id=obs.entity_id,
                types=[obs.entity_type],
                attrs={},
                created_at=now,
                modified_at=now,
            )
            result.created.append(obs.entity_id)
        instance = {**obs.instance, "createdAt": stamp, "modifiedAt": stamp}
        _keep_newest(record.attrs.setdefault(obs.attr, []), instance, obs.observed_us)
        record.modified_at = now
        history.append(
            HistoryRow(
                entity_id=obs.entity_id,
                entity_type=record.types[0],
                attr=obs.attr,
                dataset_id=None,
                observed_at=obs.observed_us,
                value_num=obs.number,
                instance=instance,
            )
        )
    _refresh_bboxes([*records.values(), *new.values()])
    repository.insert_entities(conn, list(new.values()))
    repository.update_entities(conn, list(records.values()))
    repository.append_history(conn, history)
    result.stored = len(history)
    return result


def _unseen(
    conn: Connection, observations: Sequence[Observation], result: ObservationResult
) -> list[Observation]:
    """The observations not stored before and not repeated within the batch."""
    if not observations:
        return []
    keys = list({(o.entity_id, o.attr, o.observed_us) for o in observations})
    stored = repository.existing_history_keys(conn, keys)
    fresh = []
    for obs in observations:
        key = (obs.entity_id, obs.attr, obs.observed_us)
        if key in stored:
            result.duplicates += 1
            continue
        stored.add(key)
        fresh.append(obs)
    return fresh


def _keep_newest(instances: list[dict[str, Any]], instance: dict[str, Any], at_us: int) -> None:
    """Make `instance` the default one unless the stored default is newer."""
    index = model.find_instance(instances, None)
    if index is not None:
        current = instances[index].get("observedAt")
        if current is not None and parse_datetime_us(current) > at_us:
            return
    model.put_instance(instances, instance)


class ContextBroker:
    """NGSI-LD entity operations over one database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # --- single entity -------------------------------------------------------------------

    @write_operation
    def create(self, entity: EntityInput) -> Job[None]:
        """Create an entity; AlreadyExists if its id is taken."""
        now = now_us()

        def job(conn: Connection) -> None:
            if repository.get_entity(conn, entity.id) is not None:
                raise AlreadyExists(f"entity {entity.id} exists already")
            record = _new_record(entity, now)
            repository.insert_entities(conn, [record])
            repository.append_history(conn, history_rows(record, record.attrs, now))

        return job

    def retrieve(self, entity_id: str) -> EntityRecord:
        """The entity with this id; ResourceNotFound otherwise."""
        with self.database.read() as conn:
            record = repository.get_entity(conn, entity_id)
        if record is None:
            raise ResourceNotFound(f"entity {entity_id} not found")
        return record

    def types_of(self, entity_ids: Sequence[str]) -> dict[str, list[str]]:
        """The types of the existing entities among `entity_ids` (for access checks)."""
        with self.database.read() as conn:
            return repository.entity_types(conn, entity_ids)

    @write_operation
    def delete(self, entity_id: str) -> Job[None]:
        """Delete an entity (its history stays for the temporal API)."""

        def job(conn: Connection) -> None:
            if not repository.delete_entities(conn, [entity_id]):
                raise ResourceNotFound(f"entity {entity_id} not found")

        return job

    @write_operation
    def replace(self, entity: EntityInput) -> Job[None]:
        """Replace every attribute of an existing entity (PUT)."""
        now = now_us()

        def job(conn: Connection) -> None:
            record = self._locked(conn, entity.id)
            record.types = entity.types or record.types
            record.attrs = _stamp(entity.attrs)
            self._save(conn, record, record.attrs, now)

        return job

    @write_operation
    def append_attrs(
        self, entity_id: str, attrs: Attrs, *, no_overwrite: bool = False
    ) -> Job[UpdateResult]:
        """Add attributes, overwriting same-datasetId instances unless `no_overwrite`."""
        return self._modify(entity_id, lambda rec: _append(rec.attrs, attrs, no_overwrite))

    @write_operation
    def update_attrs(self, entity_id: str, attrs: Attrs) -> Job[UpdateResult]:
        """Update attributes that exist already; report the others as not updated."""
        return self._modify(entity_id, lambda rec: _update_existing(rec.attrs, attrs))

    @write_operation
    def patch_attr(self, entity_id: str, iri: str, patch: dict[str, Any]) -> Job[UpdateResult]:
        """Partial update of one attribute instance (PATCH .../attrs/{attrId})."""

        def apply(record: EntityRecord) -> tuple[UpdateResult, Attrs]:
            instances = record.attrs.get(iri)
            index = model.find_instance(instances or [], patch.get("datasetId"))
            if instances is None or index is None:
                raise ResourceNotFound(f"attribute {iri} not found in {entity_id}")
            merged = model.merge_instance(instances[index], patch)
            instances[index] = merged
            return UpdateResult(updated=[iri]), {iri: [_as_written(merged, patch)]}

        return self._modify(entity_id, apply)

    @write_operation
    def replace_attr(
        self, entity_id: str, iri: str, instances: list[dict[str, Any]]
    ) -> Job[UpdateResult]:
        """Replace every instance of an existing attribute (PUT .../attrs/{attrId})."""

        def apply(record: EntityRecord) -> tuple[UpdateResult, Attrs]:
            if iri not in record.attrs:
                raise ResourceNotFound(f"attribute {iri} not found in {entity_id}")
            record.attrs[iri] = [dict(inst) for inst in instances]
            return UpdateResult(updated=[iri]), {iri: instances}

        return self._modify(entity_id, apply)

    @write_operation
    def delete_attr(
        self, entity_id: str, iri: str, *, dataset_id: str | None = None, delete_all: bool = False
    ) -> Job[UpdateResult]:
        """Delete an attribute instance (or all its instances)."""

        def apply(record: EntityRecord) -> tuple[UpdateResult, Attrs]:
            instances = record.attrs.get(iri)
            index = model.find_instance(instances or [], dataset_id)
            if instances is None or (index is None and not delete_all):
                raise ResourceNotFound(f"attribute {iri} not found in {entity_id}")
            if delete_all or len(instances) == 1:
                del record.attrs[iri]
            else:
                assert index is not None
                del instances[index]
            return UpdateResult(updated=[iri]), {}

        return self._modify(entity_id, apply)

    @write_operation
    def merge(
        self, entity_id: str, attrs: Attrs, types: list[str] | None = None
    ) -> Job[UpdateResult]:
        """Merge-patch an entity: add, update, or delete (value urn:ngsi-ld:null)."""

        def apply(record: EntityRecord) -> tuple[UpdateResult, Attrs]:
            if types:
                record.types = list(dict.fromkeys([*record.types, *types]))
            return _merge(record.attrs, attrs)

        return self._modify(entity_id, apply)

    # --- batch ---------------------------------------------------------------------------

    @write_operation
    def batch_create(self, items: Sequence[EntityInput | NgsiLdError]) -> Job[BatchResult]:
        """Create many entities; those that exist already are reported as errors."""
        now = now_us()

        def job(conn: Connection) -> BatchResult:
            result = BatchResult()
            existing = repository.get_entities(conn, _ids(items))
            records, seen = [], set(existing)
            for item in items:
                if _collect_error(item, result):
                    continue
                assert isinstance(item, EntityInput)
                if item.id in seen:
                    result.errors.append((item.id, AlreadyExists(f"entity {item.id} exists")))
                    continue
                seen.add(item.id)
                records.append(_new_record(item, now))
                result.success.append(item.id)
            repository.insert_entities(conn, records)
            repository.append_history(conn, _all_history(records, now))
            return result

        return job

    @write_operation
    def batch_upsert(
        self, items: Sequence[EntityInput | NgsiLdError], *, replace: bool = True
    ) -> Job[tuple[BatchResult, list[str]]]:
        """Create or replace/update many entities; also return the ids that were created."""
        now = now_us()

        def job(conn: Connection) -> tuple[BatchResult, list[str]]:
            result, created = BatchResult(), []
            existing = repository.get_entities(
                conn, _ids(items), for_update=True, with_attrs=not replace
            )
            new: dict[str, EntityRecord] = {}
            changed: dict[str, EntityRecord] = {}
            history: list[HistoryRow] = []
            for item in items:
                if _collect_error(item, result):
                    continue
                assert isinstance(item, EntityInput)
                record = existing.get(item.id) or new.get(item.id)
                if record is None:
                    record = new[item.id] = _new_record(item, now)
                    created.append(item.id)
                    history += history_rows(record, record.attrs, now)
                else:
                    written = _upsert_into(record, item, replace)
                    record.modified_at = now
                    if record.id in existing:
                        changed[record.id] = record
                    history += history_rows(record, written, now)
                result.success.append(item.id)
            _refresh_bboxes(changed.values())
            repository.insert_entities(conn, list(new.values()))
            repository.update_entities(conn, list(changed.values()))
            repository.append_history(conn, history)
            return result, created

        return job

    @write_operation
    def batch_update(
        self, items: Sequence[EntityInput | NgsiLdError], *, no_overwrite: bool = False
    ) -> Job[BatchResult]:
        """Append attributes to many existing entities."""
        now = now_us()

        def job(conn: Connection) -> BatchResult:
            result = BatchResult()
            existing = repository.get_entities(conn, _ids(items), for_update=True)
            history: list[HistoryRow] = []
            for item in items:
                if _collect_error(item, result):
                    continue
                assert isinstance(item, EntityInput)
                record = existing.get(item.id)
                if record is None:
                    result.errors.append((item.id, ResourceNotFound(f"entity {item.id} not found")))
                    continue
                _, written = _append(record.attrs, item.attrs, no_overwrite)
                record.modified_at = now
                history += history_rows(record, written, now)
                result.success.append(item.id)
            _refresh_bboxes(existing.values())
            repository.update_entities(conn, list(existing.values()))
            repository.append_history(conn, history)
            return result

        return job

    @write_operation
    def batch_delete(self, entity_ids: Sequence[str]) -> Job[BatchResult]:
        """Delete many entities; unknown ids are reported as errors."""

        def job(conn: Connection) -> BatchResult:
            deleted = repository.delete_entities(conn, list(entity_ids))
            result = BatchResult()
            for entity_id in entity_ids:
                if entity_id in deleted:
                    result.success.append(entity_id)
                else:
                    missing = ResourceNotFound(f"entity {entity_id} not found")
                    result.errors.append((entity_id, missing))
            return result

        return job

    # --- query ---------------------------------------------------------------------------

    def query(
        self, query: EntityQuery, expand: Callable[[str], str]
    ) -> tuple[list[EntityRecord], int | None]:
        """Entities matching the query (one page) and, when asked, the total count."""
        with self.database.read() as conn:
            flt = self._filter(conn, query, expand)
            if query.geo is not None:
                return _geo_page(conn, flt, query)
            page = _page(conn, flt, query) if query.limit else []
            total = repository.count_entities(conn, flt) if query.count else None
        return page, total

    def _filter(
        self, conn: Connection, query: EntityQuery, expand: Callable[[str], str]
    ) -> EntityFilter:
        flt = EntityFilter(
            selectors=query.selectors,
            types=query.types,
            ids=query.ids,
            id_pattern=query.id_pattern,
            has_any_attr=query.attrs,
            hidden_type_names=query.hidden_type_names,
        )
        if query.q is not None:
            repository.add_q(conn, flt, query.q, expand, exhaustive=query.count)
        if query.geo is not None and query.geo.geoproperty == model.LOCATION_IRI:
            flt.bbox = query.geo.candidate_bbox()
        return flt

    # --- discovery -----------------------------------------------------------------------

    def type_counts(self) -> list[tuple[str, int]]:
        """Each entity type in use with its entity count."""
        with self.database.read() as conn:
            return repository.type_counts(conn)

    def attribute_usage(self, entity_type: str | None = None) -> list[tuple[str, str, int]]:
        """(type, attribute, count) triples for the discovery endpoints."""
        with self.database.read() as conn:
            return repository.attribute_usage(conn, entity_type)

    # --- helpers -------------------------------------------------------------------------

    def _locked(self, conn: Connection, entity_id: str) -> EntityRecord:
        record = repository.get_entity(conn, entity_id, for_update=True)
        if record is None:
            raise ResourceNotFound(f"entity {entity_id} not found")
        return record

    def _modify(
        self, entity_id: str, apply: Callable[[EntityRecord], tuple[UpdateResult, Attrs]]
    ) -> Job[UpdateResult]:
        """Read-modify-write one entity under its lock, recording history of what changed."""
        now = now_us()
        guard = WRITE_GUARD.get()

        def job(conn: Connection) -> UpdateResult:
            record = self._locked(conn, entity_id)
            if guard is not None:
                guard(record.types)
            outcome, written = apply(record)
            if outcome.updated:
                self._save(conn, record, written, now)
            return outcome

        return job

    def _save(self, conn: Connection, record: EntityRecord, written: Attrs, now: int) -> None:
        record.modified_at = now
        record.bbox = model.location_bbox(record.attrs)
        repository.update_entities(conn, [record])
        repository.append_history(conn, history_rows(record, written, now))


# --- pure helpers --------------------------------------------------------------------------


def _new_record(entity: EntityInput, now: int) -> EntityRecord:
    attrs = _stamp(entity.attrs)
    return EntityRecord(
        id=entity.id,
        types=entity.types,
        attrs=attrs,
        created_at=now,
        modified_at=now,
        bbox=model.location_bbox(attrs),
    )


def _stamp(attrs: Attrs) -> Attrs:
    """A private copy of parsed attributes, so stored state never aliases caller data."""
    return {iri: [dict(inst) for inst in instances] for iri, instances in attrs.items()}


def _ids(items: Iterable[EntityInput | NgsiLdError]) -> list[str]:
    return [item.id for item in items if isinstance(item, EntityInput)]


def _collect_error(item: EntityInput | NgsiLdError, result: BatchResult) -> bool:
    if isinstance(item, NgsiLdError):
        result.errors.append((str(item.extra.get("entityId", "")), item))
        return True
    return False


def _all_history(records: Iterable[EntityRecord], now: int) -> list[HistoryRow]:
    return [row for record in records for row in history_rows(record, record.attrs, now)]


def _refresh_bboxes(records: Iterable[EntityRecord]) -> None:
    for record in records:
        record.bbox = model.location_bbox(record.attrs)


def _append(current: Attrs, attrs: Attrs, no_overwrite: bool) -> tuple[UpdateResult, Attrs]:
    outcome, written = UpdateResult(), Attrs()
    for iri, instances in attrs.items():
        target = current.setdefault(iri, [])
        kept = []
        for inst in instances:
            exists = model.find_instance(target, inst.get("datasetId")) is not None
            if exists and no_overwrite:
                outcome.not_updated.append((iri, "attribute exists and noOverwrite was asked"))
                continue
            model.put_instance(target, dict(inst))
            kept.append(inst)
        if not target:
            del current[iri]
        if kept:
            outcome.updated.append(iri)
            written[iri] = kept
    return outcome, written


def _update_existing(current: Attrs, attrs: Attrs) -> tuple[UpdateResult, Attrs]:
    outcome, written = UpdateResult(), Attrs()
    for iri, instances in attrs.items():
        target = current.get(iri)
        kept = []
        for inst in instances:
            if target is None or model.find_instance(target, inst.get("datasetId")) is None:
                outcome.not_updated.append((iri, "attribute does not exist"))
                continue
            model.put_instance(target, dict(inst))
            kept.append(inst)
        if kept:
            outcome.updated.append(iri)
            written[iri] = kept
    return outcome, written


def _merge(current: Attrs, attrs: Attrs) -> tuple[UpdateResult, Attrs]:
    outcome, written = UpdateResult(), Attrs()
    for iri, instances in attrs.items():
        target = current.setdefault(iri, [])
        for inst in instances:
            index = model.find_instance(target, inst.get("datasetId"))
            if model.is_null_instance(inst):
                if index is not None:
                    del target[index]
            elif index is None:
                model.put_instance(target, dict(inst))
                written.setdefault(iri, []).append(inst)
            else:
                target[index] = model.merge_instance(target[index], inst)
                written.setdefault(iri, []).append(_as_written(target[index], inst))
        if not target:
            del current[iri]
        outcome.updated.append(iri)
    return outcome, written


def _as_written(merged: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The history view of a merged instance: a patch without observedAt happened now.

    The stored instance keeps its earlier observedAt (the standard's partial update), but
    the history must not file the new value under that old time.
    """
    if "observedAt" in patch or "observedAt" not in merged:
        return merged
    return {key: value for key, value in merged.items() if key != "observedAt"}


def _upsert_into(record: EntityRecord, item: EntityInput, replace: bool) -> Attrs:
    """Apply one upserted entity to an existing record; return what was written."""
    if replace:
        record.types = item.types
        record.attrs = _stamp(item.attrs)
        return record.attrs
    _, written = _append(record.attrs, item.attrs, no_overwrite=False)
    return written


def _page(conn: Connection, flt: EntityFilter, query: EntityQuery) -> list[EntityRecord]:
    """One page: walked by primary key when only JSON tests of q narrow the entities."""
    if query.q is not None and not flt.index_driven and not flt.ids:
        return repository.scan_page(conn, flt, query.limit, query.offset)
    return repository.query_page(conn, flt, query.limit, query.offset)


def _geo_page(
    conn: Connection, flt: EntityFilter, query: EntityQuery
) -> tuple[list[EntityRecord], int | None]:
    """Exact geo filtering in Python after the spatial-index prefilter."""
    assert query.geo is not None
    if query.geo.geoproperty != model.LOCATION_IRI:
        return _geo_page_by_documents(conn, flt, query)
    # `location` is mirrored in columns: a Point is tested from them without reading the
    # entity's JSON, and only the page's entities are fetched whole.
    matched: list[int] = []
    end = query.offset + query.limit
    for candidate in repository.iterate_locations(conn, flt):
        if query.geo.matches(candidate.geometry()):
            matched.append(candidate.pk)
            if len(matched) >= end and not query.count:
                break
    page = repository.get_by_pks(conn, matched[query.offset : end])
    return page, (len(matched) if query.count else None)


def _geo_page_by_documents(
    conn: Connection, flt: EntityFilter, query: EntityQuery
) -> tuple[list[EntityRecord], int | None]:
    """Geo-query on a GeoProperty other than `location`: read each candidate's JSON."""
    assert query.geo is not None
    geo, page, matched = query.geo, [], 0
    end = query.offset + query.limit
    for record in repository.iterate_entities(conn, flt):
        instances = record.attrs.get(geo.geoproperty)
        if not instances or instances[0].get("type") != "GeoProperty":
            continue
        if not geo.matches(instances[0]["value"]):
            continue
        if query.offset <= matched < end:
            page.append(record)
        matched += 1
        if matched >= end and not query.count:
            break
    return page, (matched if query.count else None)
