"""The only place with SQL for the context broker: entities, spatial index, history."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Row,
    Select,
    Text,
    and_,
    bindparam,
    case,
    column,
    delete,
    exists,
    func,
    insert,
    literal,
    not_,
    null,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, array
from sqlalchemy.exc import IntegrityError

from smartcity.core.db import json_dumps

from . import qlang
from .errors import AlreadyExists
from .model import LOCATION_IRI
from .tables import attr_history, attr_index, entities, entity_changes, feed_cursors
from .times import add_months_us, format_us, now_us, parse_datetime_us

ENTITY_COLUMNS = (
    entities.c.pk,
    entities.c.id,
    entities.c.type,
    entities.c.extra_types,
    entities.c.attrs,
    entities.c.created_at,
    entities.c.modified_at,
)
Bbox = tuple[float, float, float, float]
_LIGHT_COLUMNS = tuple(
    literal({}, type_=entities.c.attrs.type).label("attrs") if c is entities.c.attrs else c
    for c in ENTITY_COLUMNS
)


@dataclass
class EntityRecord:
    """One stored entity as the service layer sees it."""

    id: str
    types: list[str]
    attrs: dict[str, list[dict[str, Any]]]
    created_at: int
    modified_at: int
    pk: int | None = None
    bbox: Bbox | None = None

    @classmethod
    def from_row(cls, row: Row[Any, Any, Any, Any, Any, Any, Any]) -> EntityRecord:
        """Build a record from a row of ENTITY_COLUMNS."""
        return cls(
            id=row.id,
            types=[row.type, *(row.extra_types or ())],
            attrs=row.attrs,
            created_at=row.created_at,
            modified_at=row.modified_at,
            pk=row.pk,
        )

    def values(self) -> dict[str, Any]:
        """Column values for INSERT/UPDATE."""
        minx, miny, maxx, maxy = self.bbox if self.bbox else (None, None, None, None)
        return {
            "id": self.id,
            "type": self.types[0],
            "extra_types": self.types[1:] or None,
            "attrs": self.attrs,
            "created_at": self.created_at,
            "modified_at": self.modified_at,
            "loc_minx": minx,
            "loc_miny": miny,
            "loc_maxx": maxx,
            "loc_maxy": maxy,
        }


@dataclass(frozen=True)
class Selector:
    """One EntitySelector of a Query: types AND (ids or idPattern)."""

    types: Sequence[str] = ()
    ids: Sequence[str] = ()
    id_pattern: str | None = None


@dataclass
class EntityFilter:
    """Which entities a query selects (SQL part; exact geo matching is the caller's)."""

    #: Entities matching any of these selectors (POST /entityOperations/query); () = all.
    selectors: Sequence[Selector] = ()
    types: Sequence[str] = ()
    ids: Sequence[str] = ()
    id_pattern: str | None = None
    has_any_attr: Sequence[str] = ()
    #: Local names of entity types the caller may not see (personal data; see access.py).
    hidden_type_names: Sequence[str] = ()
    where: list[ColumnElement[bool]] = field(default_factory=list)
    bbox: Bbox | None = None
    #: True when a q term is answered from attr_index (the index then drives the query).
    index_driven: bool = False


# --- reading entities --------------------------------------------------------------------


# Statements of the hot paths are built once: SQLAlchemy then reuses their cache keys and
# compiled forms instead of rebuilding them on every request.
_GET_ENTITY = select(*ENTITY_COLUMNS).where(entities.c.id == bindparam("entity_id"))
_GET_ENTITY_FOR_UPDATE = _GET_ENTITY.with_for_update()


def get_entity(
    conn: Connection, entity_id: str, *, for_update: bool = False
) -> EntityRecord | None:
    """The entity with this id, locked for update on PostgreSQL when asked."""
    locking = for_update and conn.dialect.name == "postgresql"
    stmt = _GET_ENTITY_FOR_UPDATE if locking else _GET_ENTITY
    row = conn.execute(stmt, {"entity_id": entity_id}).first()
    return EntityRecord.from_row(row) if row else None


def get_entities(
    conn: Connection,
    entity_ids: Iterable[str],
    *,
    for_update: bool = False,
    with_attrs: bool = True,
) -> dict[str, EntityRecord]:
    """Entities by id, as a dict (missing ids are absent).

    `with_attrs=False` skips decoding the attributes (empty in the records), for callers
    that replace them anyway.
    """
    wanted = list(dict.fromkeys(entity_ids))
    found: dict[str, EntityRecord] = {}
    columns = ENTITY_COLUMNS if with_attrs else _LIGHT_COLUMNS
    for start in range(0, len(wanted), 500):
        stmt = select(*columns).where(entities.c.id.in_(wanted[start : start + 500]))
        if for_update and conn.dialect.name == "postgresql":
            stmt = stmt.order_by(entities.c.pk).with_for_update()
        for row in conn.execute(stmt):
            found[row.id] = EntityRecord.from_row(row)
    return found


def query_entities(
    conn: Connection, flt: EntityFilter, *, after_pk: int = 0, batch: int | None = None
) -> list[EntityRecord]:
    """Entities matching `flt` in storage order, starting after `after_pk`."""
    stmt = (
        select(*ENTITY_COLUMNS)
        .where(_filter_clause(conn, flt), entities.c.pk > after_pk)
        .order_by(entities.c.pk)
    )
    if batch is not None:
        stmt = stmt.limit(batch)
    return [EntityRecord.from_row(row) for row in conn.execute(stmt)]


def query_page(conn: Connection, flt: EntityFilter, limit: int, offset: int) -> list[EntityRecord]:
    """One page of entities matching `flt` (all filtering done in SQL)."""
    stmt = (
        select(*ENTITY_COLUMNS)
        .where(_filter_clause(conn, flt))
        .order_by(entities.c.pk)
        .limit(limit)
        .offset(offset)
    )
    return [EntityRecord.from_row(row) for row in conn.execute(stmt)]


#: Entities (of the wanted types) in one step of scan_page.
SCAN_SPAN = 4096


def entity_types(conn: Connection, entity_ids: Sequence[str]) -> dict[str, list[str]]:
    """Entity id → its types, for the ids that exist."""
    stmt = select(entities.c.id, entities.c.type, entities.c.extra_types).where(
        entities.c.id.in_(list(entity_ids))
    )
    return {row.id: [row.type, *(row.extra_types or ())] for row in conn.execute(stmt)}


def scan_page(conn: Connection, flt: EntityFilter, limit: int, offset: int) -> list[EntityRecord]:
    """One page found by walking the wanted types in primary-key spans, testing q per row.

    For filters no index can drive (JSON tests of broad q terms): a planner that misjudges
    their selectivity may scan and sort a whole table for a page it could read from the
    first rows. Each step takes the next SCAN_SPAN entities of the wanted types from the
    (type, pk) index, then tests the rest of the filter on that pk range only.
    """
    cheap = EntityFilter(
        selectors=flt.selectors, types=flt.types, ids=flt.ids, id_pattern=flt.id_pattern
    )
    found: list[EntityRecord] = []
    wanted, low = offset + limit, 0
    while len(found) < wanted:
        span = (
            select(entities.c.pk)
            .where(_filter_clause(conn, cheap), entities.c.pk > low)
            .order_by(entities.c.pk)
            .limit(SCAN_SPAN)
            .subquery()
        )
        high = conn.execute(select(func.max(span.c.pk))).scalar()
        if high is None:
            break
        stmt = (
            select(*ENTITY_COLUMNS)
            .where(_filter_clause(conn, flt), entities.c.pk > low, entities.c.pk <= high)
            .order_by(entities.c.pk)
            .limit(wanted - len(found))
        )
        found.extend(EntityRecord.from_row(row) for row in conn.execute(stmt))
        low = high
    return found[offset:wanted]


def count_entities(conn: Connection, flt: EntityFilter) -> int:
    """How many entities match `flt`."""
    stmt = select(func.count()).select_from(entities).where(_filter_clause(conn, flt))
    return int(conn.execute(stmt).scalar_one())


def iterate_entities(
    conn: Connection, flt: EntityFilter, batch: int = 500
) -> Iterator[EntityRecord]:
    """Every entity matching `flt`, fetched in keyset-paginated batches."""
    after = 0
    while True:
        records = query_entities(conn, flt, after_pk=after, batch=batch)
        yield from records
        if len(records) < batch:
            return
        after = records[-1].pk or 0


@dataclass(frozen=True)
class LocationCandidate:
    """An entity's `location` as the spatial columns hold it (GeoJSON only if not a Point)."""

    pk: int
    minx: float
    miny: float
    maxx: float
    maxy: float
    geojson: Any

    def geometry(self) -> dict[str, Any]:
        """The GeoJSON geometry of the default `location`."""
        if self.geojson is not None:
            return self.geojson if isinstance(self.geojson, dict) else orjson.loads(self.geojson)
        return {"type": "Point", "coordinates": [self.minx, self.miny]}


#: Up to this many spatial-index candidates are fetched in one unordered query (the index
#: drives it); more are walked in primary-key order, a batch at a time.
UNORDERED_CANDIDATES = 50_000


def iterate_locations(
    conn: Connection, flt: EntityFilter, batch: int = 2000
) -> Iterator[LocationCandidate]:
    """Locations of the entities matching `flt`, in storage order, without their documents."""
    columns = _location_columns(conn)
    where = and_(_filter_clause(conn, flt), entities.c.loc_minx.is_not(None))
    if flt.bbox is not None:
        # Planners would rather walk the primary key in order than trust the spatial index
        # with ORDER BY ... LIMIT; a bounded candidate set is fetched whole and sorted here.
        capped = select(literal(1)).where(where).limit(UNORDERED_CANDIDATES + 1).subquery()
        if (
            conn.execute(select(func.count()).select_from(capped)).scalar_one()
            <= UNORDERED_CANDIDATES
        ):
            found = sorted(conn.execute(select(*columns).where(where)), key=lambda r: r[0])
            yield from (LocationCandidate(*row) for row in found)
            return
    after = 0
    while True:
        stmt = (
            select(*columns)
            .where(where, entities.c.pk > after)
            .order_by(entities.c.pk)
            .limit(batch)
        )
        rows = conn.execute(stmt).all()
        yield from (LocationCandidate(*row) for row in rows)
        if len(rows) < batch:
            return
        after = rows[-1][0]


def _location_columns(conn: Connection) -> tuple[ColumnElement[Any], ...]:
    """pk, the location box, and the GeoJSON only when the location is not a Point."""
    is_point = and_(
        entities.c.loc_minx == entities.c.loc_maxx, entities.c.loc_miny == entities.c.loc_maxy
    )
    if conn.dialect.name == "postgresql":
        value: ColumnElement[Any] = entities.c.attrs[(LOCATION_IRI, 0, "value")]
    else:
        path = qlang.sqlite_json_path((LOCATION_IRI, 0, "value"))
        value = func.json_extract(entities.c.attrs, path)
    geojson = case((is_point, null()), else_=value).label("geojson")
    return (entities.c.pk, *_LOC_COLUMNS, geojson)


def get_by_pks(conn: Connection, pks: Sequence[int]) -> list[EntityRecord]:
    """Entities by primary key, in the order given."""
    if not pks:
        return []
    rows = conn.execute(select(*ENTITY_COLUMNS).where(entities.c.pk.in_(list(pks))))
    by_pk = {row.pk: EntityRecord.from_row(row) for row in rows}
    return [by_pk[pk] for pk in pks if pk in by_pk]


_LOC_COLUMNS = (entities.c.loc_minx, entities.c.loc_miny, entities.c.loc_maxx, entities.c.loc_maxy)


def _filter_clause(conn: Connection, flt: EntityFilter) -> ColumnElement[bool]:
    dialect = conn.dialect.name
    clauses: list[ColumnElement[bool]] = list(flt.where)
    clauses.extend(_selector_clauses(dialect, Selector(flt.types, flt.ids, flt.id_pattern)))
    if flt.selectors:
        clauses.append(or_(*(and_(true(), *_selector_clauses(dialect, s)) for s in flt.selectors)))
    if flt.has_any_attr:
        clauses.append(or_(*(attr_exists(dialect, iri) for iri in flt.has_any_attr)))
    if flt.hidden_type_names:
        clauses.append(not_(type_named(entities.c.type, flt.hidden_type_names)))
    if flt.bbox:
        clauses.append(_bbox_clause(dialect, flt.bbox))
    return and_(true(), *clauses)


def _selector_clauses(dialect: str, selector: Selector) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if selector.types:
        clauses.append(_type_clause(dialect, selector.types))
    if selector.ids:
        clauses.append(entities.c.id.in_(list(selector.ids)))
    if selector.id_pattern:
        clauses.append(entities.c.id.regexp_match(selector.id_pattern))
    return clauses


def type_named(column: ColumnElement[str], names: Sequence[str]) -> ColumnElement[bool]:
    """SQL test that a type IRI has one of these local names (`…/Person`, `…#Person`)."""
    tests = []
    for name in names:
        tests.extend([column == name, column.endswith("/" + name), column.endswith("#" + name)])
    return or_(*tests)


def _type_clause(dialect: str, types: Sequence[str]) -> ColumnElement[bool]:
    primary = entities.c.type.in_(list(types))
    if dialect == "postgresql":
        extra: ColumnElement[bool] = entities.c.extra_types.op("?|")(array(list(types)))
    else:
        each = func.json_each(entities.c.extra_types).table_valued("value")
        extra = exists(select(literal(1)).select_from(each).where(each.c.value.in_(list(types))))
    return or_(primary, and_(entities.c.extra_types.is_not(None), extra))


def attr_exists(dialect: str, iri: str) -> ColumnElement[bool]:
    """SQL test that the entity has attribute `iri`."""
    if dialect == "postgresql":
        has_key: ColumnElement[bool] = entities.c.attrs.cast(JSONB).has_key(iri)
        return has_key
    return func.json_type(entities.c.attrs, qlang.sqlite_json_path((iri,))).is_not(None)


def _bbox_clause(dialect: str, bbox: Bbox) -> ColumnElement[bool]:
    minx, miny, maxx, maxy = bbox
    if dialect == "postgresql":
        stored = func.box(
            func.point(entities.c.loc_minx, entities.c.loc_miny),
            func.point(entities.c.loc_maxx, entities.c.loc_maxy),
        )
        query_box = func.box(func.point(minx, miny), func.point(maxx, maxy))
        return and_(entities.c.loc_minx.is_not(None), stored.op("&&")(query_box))
    rtree = text(
        "SELECT pk FROM entities_loc WHERE maxx >= :minx AND minx <= :maxx "
        "AND maxy >= :miny AND miny <= :maxy"
    ).bindparams(minx=minx, maxx=maxx, miny=miny, maxy=maxy)
    return entities.c.pk.in_(rtree.columns(column("pk", Integer)))


# --- writing entities --------------------------------------------------------------------


def insert_entities(conn: Connection, records: Sequence[EntityRecord]) -> None:
    """Insert new entities; AlreadyExists when an id is taken."""
    if not records:
        return
    stmt = insert(entities).returning(entities.c.pk, sort_by_parameter_order=True)
    try:
        pks = conn.execute(stmt, [record.values() for record in records]).scalars().all()
    except IntegrityError:
        raise AlreadyExists("an entity with this id exists already") from None
    for record, pk in zip(records, pks, strict=True):
        record.pk = pk
    write_index(conn, records, fresh=True)
    _created_in_transaction(conn).update(record.id for record in records)
    # The created attributes travel with the change: a reader sees the entity as created.
    record_changes(conn, [(r.id, r.types[0], "create", r.attrs) for r in records])


def update_entities(conn: Connection, records: Sequence[EntityRecord]) -> None:
    """Store new attributes, types and location of existing entities."""
    if not records:
        return
    rows = []
    for record in records:
        values = record.values()
        values["b_id"] = values.pop("id")
        values.pop("created_at")
        rows.append(values)
    conn.execute(_UPDATE_ENTITY, rows)
    write_index(conn, records, fresh=False)


_UPDATE_ENTITY = (
    update(entities)
    .where(entities.c.id == bindparam("b_id"))
    .values(
        type=bindparam("type"),
        extra_types=bindparam("extra_types"),
        attrs=bindparam("attrs"),
        modified_at=bindparam("modified_at"),
        loc_minx=bindparam("loc_minx"),
        loc_miny=bindparam("loc_miny"),
        loc_maxx=bindparam("loc_maxx"),
        loc_maxy=bindparam("loc_maxy"),
    )
)
_DELETE_INDEX_ROWS = delete(attr_index).where(attr_index.c.entity_pk == bindparam("pk"))

# The two inserts that carry one row per value written go straight to the driver's
# executemany: SQLAlchemy's per-row parameter processing cost more than the inserts.
_INSERT_INDEX_SQL = "INSERT INTO attr_index (entity_pk, attr, num, txt) VALUES ({})"
_INSERT_HISTORY_SQL = (
    "INSERT INTO attr_history (entity_id, entity_type, attr, dataset_id, observed_at,"
    " value_num, instance) VALUES ({})"
)
_PLACEHOLDERS = {
    "sqlite": ("?, ?, ?, ?", "?, ?, ?, ?, ?, ?, ?"),
    "postgresql": ("%s, %s, %s, %s", "%s, %s, %s, %s, %s, %s, %s::jsonb"),
}


def _executemany(conn: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """Run one parameterised statement over many rows through the DBAPI cursor."""
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


def write_index(conn: Connection, records: Sequence[EntityRecord], *, fresh: bool) -> None:
    """Rewrite the attribute-index rows of these entities (see qlang.index_entries)."""
    pks = [record.pk for record in records if record.pk is not None]
    if not fresh and pks:
        conn.execute(_DELETE_INDEX_ROWS, [{"pk": pk} for pk in pks])
    rows = [
        (record.pk, attr, num, txt)
        for record in records
        for attr, num, txt in qlang.index_entries(record.attrs)
    ]
    if rows:
        values = _PLACEHOLDERS[conn.dialect.name][0]
        _executemany(conn, _INSERT_INDEX_SQL.format(values), rows)


#: A term matching fewer index rows than this is answered from the index; a broader one is
#: tested on the JSON of the rows scanned, which stops as soon as a page is full.
SELECTIVE_ROWS = 2000


def add_q(
    conn: Connection,
    flt: EntityFilter,
    expr: qlang.QExpr,
    expand: Callable[[str], str],
    *,
    exhaustive: bool,
) -> None:
    """Add a parsed q to the filter (see q_clause), noting whether the index drives it."""
    used: list[bool] = []
    flt.where.append(q_clause(conn, expr, expand, exhaustive=exhaustive, used_index=used))
    flt.index_driven = flt.index_driven or any(used)


def q_clause(
    conn: Connection,
    expr: qlang.QExpr,
    expand: Callable[[str], str],
    *,
    exhaustive: bool,
    used_index: list[bool] | None = None,
) -> ColumnElement[bool]:
    """SQL for a parsed q: index lookups for selective comparisons, JSON paths for the rest.

    `exhaustive` (a count is wanted) always uses the index: every row is visited anyway.
    Each term answered from the index appends True to `used_index`.
    """
    dialect = conn.dialect.name
    used = used_index if used_index is not None else []
    if isinstance(expr, qlang.And | qlang.Or):
        combine = and_ if isinstance(expr, qlang.And) else or_
        return combine(
            *(
                q_clause(conn, term, expand, exhaustive=exhaustive, used_index=used)
                for term in expr.terms
            )
        )
    tests = qlang.index_tests(expr)
    if tests is None:
        return qlang.compile_q(expr, entities.c.attrs, dialect, expand)
    iri = expand(expr.path.attr)
    hits = select(attr_index.c.entity_pk).where(
        attr_index.c.attr == iri, or_(*(_index_test(test) for test in tests))
    )
    if not exhaustive and _index_rows(conn, hits) >= SELECTIVE_ROWS:
        return qlang.compile_q(expr, entities.c.attrs, dialect, expand)
    clause: ColumnElement[bool] = entities.c.pk.in_(hits)
    used.append(True)
    # Values the index cannot hold exactly (long strings, integers beyond 2**53) sit
    # there as marker rows; those entities are tested on their JSON. Only when there are
    # any: the OR would keep the planners from driving the query from the index.
    long_ones = select(attr_index.c.entity_pk).where(
        attr_index.c.attr == iri, attr_index.c.num.is_(None), attr_index.c.txt.is_(None)
    )
    if conn.execute(long_ones.limit(1)).first() is None:
        return clause
    json_test = qlang.compile_q(expr, entities.c.attrs, dialect, expand)
    return or_(clause, and_(entities.c.pk.in_(long_ones), json_test))


def _index_rows(conn: Connection, hits: Select[Any]) -> int:
    """How many index rows a term matches, counting no further than SELECTIVE_ROWS."""
    capped = hits.limit(SELECTIVE_ROWS).subquery()
    return int(conn.execute(select(func.count()).select_from(capped)).scalar_one())


def _index_test(test: qlang.IndexTest) -> ColumnElement[bool]:
    column = attr_index.c.num if test.kind == "num" else attr_index.c.txt
    if test.op == "range":
        return column.between(test.args[0], test.args[1])
    return _INDEX_OPS[test.op](column, test.args[0])


_INDEX_OPS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "==": operator.eq,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def delete_entities(conn: Connection, entity_ids: Sequence[str]) -> set[str]:
    """Delete entities; return the ids that existed."""
    deleted: dict[str, str] = {}
    for start in range(0, len(entity_ids), 500):
        chunk = list(entity_ids[start : start + 500])
        result = conn.execute(
            delete(entities)
            .where(entities.c.id.in_(chunk))
            .returning(entities.c.id, entities.c.type)
        )
        deleted.update((row.id, row.type) for row in result)
    record_changes(conn, [(i, t, "delete", None) for i, t in deleted.items()])
    return set(deleted)


# --- history -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    """One attribute instance at one time."""

    entity_id: str
    entity_type: str
    attr: str
    dataset_id: str | None
    observed_at: int
    value_num: float | None
    instance: dict[str, Any]


_known_partitions: set[tuple[str, int]] = set()


def append_history(conn: Connection, rows: Sequence[HistoryRow]) -> None:
    """Append attribute instances to the history (one multi-row INSERT)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        ensure_month_partitions(conn, {row.observed_at for row in rows})
    values = _PLACEHOLDERS[conn.dialect.name][1]
    history = [
        (
            row.entity_id,
            row.entity_type,
            row.attr,
            row.dataset_id,
            row.observed_at,
            row.value_num,
            json_dumps(row.instance),
        )
        for row in rows
    ]
    _executemany(conn, _INSERT_HISTORY_SQL.format(values), history)
    _record_updates(conn, rows)


def _record_updates(conn: Connection, rows: Sequence[HistoryRow]) -> None:
    """One "update" change per entity whose attributes were written (not just created),
    carrying the newest instance written per attribute and datasetId, so that readers of
    the feed see each change's values even after later changes of the same entity."""
    created = _created_in_transaction(conn)
    written: dict[str, tuple[str, dict[str, dict[str | None, HistoryRow]]]] = {}
    for row in rows:
        if row.entity_id in created:
            continue
        per_attr = written.setdefault(row.entity_id, (row.entity_type, {}))[1]
        newest = per_attr.setdefault(row.attr, {})
        held = newest.get(row.dataset_id)
        if held is None or row.observed_at >= held.observed_at:
            newest[row.dataset_id] = row
    record_changes(
        conn,
        [
            (entity_id, entity_type, "update", _instances(per_attr))
            for entity_id, (entity_type, per_attr) in written.items()
        ],
    )


def _instances(per_attr: dict[str, dict[str | None, HistoryRow]]) -> dict[str, Any]:
    return {attr: [row.instance for row in rows.values()] for attr, rows in per_attr.items()}


#: conn.info key: ids created in this transaction (their history rows are not "updates").
_CREATED_KEY = "smartcity_created_entities"


def _created_in_transaction(conn: Connection) -> set[str]:
    """The ids created in the connection's current transaction (pooled connections live on)."""
    transaction = conn.get_transaction()
    held = conn.info.get(_CREATED_KEY)
    if held is None or held[0] is not transaction:
        held = conn.info[_CREATED_KEY] = (transaction, set())
    created: set[str] = held[1]
    return created


_INSERT_CHANGE_SQL = (
    "INSERT INTO entity_changes (at, entity_id, entity_type, op, attrs) VALUES ({})"
)
_CHANGE_PLACEHOLDERS = {"sqlite": "?, ?, ?, ?, ?", "postgresql": "%s, %s, %s, %s, %s::jsonb"}


def record_changes(
    conn: Connection, changes: Sequence[tuple[str, str, str, list[str] | dict[str, Any] | None]]
) -> None:
    """Append (entity id, type, op, attributes) to the change feed, in this transaction.

    `attributes`: for creations and updates, the written instances by attribute (a mapping);
    None for deletions.
    """
    if not changes:
        return
    at = now_us()
    rows = [
        (entity_id, entity_type, op, None if attrs is None else json_dumps(attrs))
        for entity_id, entity_type, op, attrs in changes
    ]
    sql = _INSERT_CHANGE_SQL.format(_CHANGE_PLACEHOLDERS[conn.dialect.name])
    _executemany(conn, sql, [(at, *row) for row in rows])


def read_changes(conn: Connection, after_seq: int, limit: int) -> list[dict[str, Any]]:
    """Change-feed rows after a sequence number, oldest first."""
    stmt = (
        select(entity_changes)
        .where(entity_changes.c.seq > after_seq)
        .order_by(entity_changes.c.seq)
        .limit(limit)
    )
    return [dict(row) for row in conn.execute(stmt).mappings()]


def last_change_seq(conn: Connection) -> int:
    """The newest change-feed sequence number (0 when empty)."""
    return int(conn.execute(select(func.max(entity_changes.c.seq))).scalar() or 0)


def read_cursor(conn: Connection, name: str) -> int | None:
    """Where the named feed reader got to, if it ever saved its place."""
    row = conn.execute(select(feed_cursors.c.seq).where(feed_cursors.c.name == name)).first()
    return int(row[0]) if row else None


def save_cursor(conn: Connection, name: str, seq: int) -> None:
    """Remember where the named feed reader got to."""
    stmt = update(feed_cursors).where(feed_cursors.c.name == name).values(seq=seq, at=now_us())
    if not conn.execute(stmt).rowcount:
        conn.execute(insert(feed_cursors).values(name=name, seq=seq, at=now_us()))


def purge_changes(conn: Connection, before_us: int, up_to_seq: int | None = None) -> int:
    """Drop change-feed rows older than an instant (and read, up to `up_to_seq`); how many."""
    stmt = delete(entity_changes).where(entity_changes.c.at < before_us)
    if up_to_seq is not None:
        stmt = stmt.where(entity_changes.c.seq <= up_to_seq)
    return int(conn.execute(stmt).rowcount)


def existing_history_keys(
    conn: Connection, keys: Sequence[tuple[str, str, int]]
) -> set[tuple[str, str, int]]:
    """Which (entity, attribute, observedAt) of `keys` the default-instance history has.

    The keys are joined as a VALUES list, so each is one index lookup: a range or IN-list
    query would read every row of the entities in the batch's time span (a day of backfill).
    """
    found: set[tuple[str, str, int]] = set()
    row = "(?, ?, ?)" if conn.dialect.name == "sqlite" else "(%s::text, %s::text, %s::bigint)"
    for first in range(0, len(keys), 500):
        chunk = keys[first : first + 500]
        sql = (
            f"WITH k(e, a, o) AS (VALUES {', '.join([row] * len(chunk))})"
            " SELECT h.entity_id, h.attr, h.observed_at, h.dataset_id FROM k JOIN attr_history h"
            " ON h.entity_id = k.e AND h.attr = k.a AND h.observed_at = k.o"
        )
        # dataset_id is tested here, not in SQL: with it in the WHERE clause SQLite's planner
        # scans the whole history (a Bloom filter) instead of one lookup per key.
        params = tuple(value for key in chunk for value in key)
        rows = conn.exec_driver_sql(sql, params)
        found.update((r[0], r[1], r[2]) for r in rows if r[3] is None)
    return found


def ensure_month_partitions(conn: Connection, instants_us: Iterable[int]) -> None:
    """Create the monthly history partitions these instants fall in (PostgreSQL)."""
    database = str(conn.engine.url)
    for instant in instants_us:
        month_start = parse_datetime_us(format_us(instant)[:7] + "-01T00:00:00Z")
        if (database, month_start) in _known_partitions:
            continue
        name = "attr_history_y" + format_us(month_start)[:7].replace("-", "m")
        month_end = add_months_us(month_start, 1)
        savepoint = conn.begin_nested()
        try:
            conn.exec_driver_sql(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF attr_history "
                f"FOR VALUES FROM ({month_start}) TO ({month_end})"
            )
            savepoint.commit()
        except Exception:
            # Rows of that month already sit in the default partition: keep them there.
            savepoint.rollback()
        _known_partitions.add((database, month_start))


def delete_history(conn: Connection, entity_id: str, attr: str | None = None) -> int:
    """Delete the history of an entity (or of one of its attributes)."""
    stmt = delete(attr_history).where(attr_history.c.entity_id == entity_id)
    if attr is not None:
        stmt = stmt.where(attr_history.c.attr == attr)
    return conn.execute(stmt).rowcount


@dataclass
class HistoryFilter:
    """Which history rows a temporal query reads."""

    entity_ids: Sequence[str]
    attrs: Sequence[str] = ()
    start_us: int | None = None  # inclusive
    end_us: int | None = None  # exclusive


def _history_where(flt: HistoryFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [attr_history.c.entity_id.in_(list(flt.entity_ids))]
    if flt.attrs:
        clauses.append(attr_history.c.attr.in_(list(flt.attrs)))
    if flt.start_us is not None:
        clauses.append(attr_history.c.observed_at >= flt.start_us)
    if flt.end_us is not None:
        clauses.append(attr_history.c.observed_at < flt.end_us)
    return clauses


def read_history(
    conn: Connection, flt: HistoryFilter, *, last_n: int | None = None, limit: int = 10000
) -> list[Row[Any]]:
    """History rows in time order per entity and attribute (the last N per attribute if asked)."""
    cols = (
        attr_history.c.entity_id,
        attr_history.c.attr,
        attr_history.c.observed_at,
        attr_history.c.instance,
        attr_history.c.pk,
    )
    if last_n is None:
        stmt = (
            select(*cols)
            .where(*_history_where(flt))
            .order_by(
                attr_history.c.entity_id,
                attr_history.c.attr,
                attr_history.c.observed_at,
                attr_history.c.pk,
            )
            .limit(limit)
        )
        return list(conn.execute(stmt))
    # The last N per (entity, attribute): one backwards index walk each, not a window
    # function over the whole history.
    rows: list[Row[Any]] = []
    for entity_id in sorted(flt.entity_ids):
        for attr in sorted(flt.attrs) if flt.attrs else history_attrs(conn, entity_id):
            one = HistoryFilter([entity_id], [attr], flt.start_us, flt.end_us)
            stmt = (
                select(*cols)
                .where(*_history_where(one))
                .order_by(attr_history.c.observed_at.desc(), attr_history.c.pk.desc())
                .limit(last_n)
            )
            rows.extend(reversed(list(conn.execute(stmt))))
            if len(rows) >= limit:
                return rows[:limit]
    return rows


def history_attrs(conn: Connection, entity_id: str) -> list[str]:
    """The attributes an entity has history for (a loose index scan: one seek per attribute)."""
    stmt = text(
        "WITH RECURSIVE a(attr) AS ("
        " SELECT min(attr) FROM attr_history WHERE entity_id = :e"
        " UNION ALL"
        " SELECT (SELECT min(h.attr) FROM attr_history h"
        "         WHERE h.entity_id = :e AND h.attr > a.attr)"
        " FROM a WHERE a.attr IS NOT NULL"
        ") SELECT attr FROM a WHERE attr IS NOT NULL"
    )
    return [row[0] for row in conn.execute(stmt, {"e": entity_id})]


def aggregate_history(
    conn: Connection,
    flt: HistoryFilter,
    origin_us: int,
    period_us: int,
    *,
    distinct: bool = True,
) -> list[Row[Any]]:
    """Per entity, attribute and period bucket: count, distinct, sum, min, max, sum of squares.

    `distinct=False` skips the distinct count (JSON parsing of every row; `distinct` is 0).
    """
    # Integer floor division: the same bucket numbers on both backends.
    bucket = ((attr_history.c.observed_at - origin_us) // period_us).label("bucket")
    num = attr_history.c.value_num
    keys, group = _aggregate_keys(flt)
    stmt = (
        select(
            *keys,
            bucket,
            func.count().label("total"),
            _distinct_count(conn.dialect.name, distinct),
            func.count(num).label("n"),
            func.sum(num).label("sum"),
            func.min(num).label("min"),
            func.max(num).label("max"),
            func.sum(num * num).label("sumsq"),
        )
        .where(*_history_where(flt))
        .group_by(*group, bucket)
        .order_by(*group, bucket)
    )
    return list(conn.execute(stmt))


def _aggregate_keys(
    flt: HistoryFilter,
) -> tuple[list[ColumnElement[Any]], list[ColumnElement[Any]]]:
    """The entity and attribute columns to select, and those to group by."""
    if len(flt.entity_ids) == 1 and len(flt.attrs) == 1:
        # One entity and attribute: constants, and grouping by the bucket alone spares
        # SQLite the sort of long text keys (about twice as fast).
        entity_id = literal(flt.entity_ids[0], Text).label("entity_id")
        return [entity_id, literal(flt.attrs[0], Text).label("attr")], []
    columns: list[ColumnElement[Any]] = [attr_history.c.entity_id, attr_history.c.attr]
    return columns, columns


def _distinct_count(dialect: str, wanted: bool) -> ColumnElement[Any]:
    """COUNT(DISTINCT value member), or 0 when not wanted."""
    if not wanted:
        return literal(0, Integer).label("distinct")
    # distinctCount counts the value member of every attribute type, not only `value`.
    keys = ("value", "object", "languageMap", "json", "vocab", "valueList", "objectList")
    if dialect == "postgresql":
        doc = attr_history.c.instance.cast(JSONB)
        raw_value: ColumnElement[Any] = func.coalesce(*(doc[key] for key in keys))
    else:
        paths = (func.json_extract(attr_history.c.instance, "$." + key) for key in keys)
        raw_value = func.coalesce(*paths)
    return func.count(raw_value.distinct()).label("distinct")


def history_entity_ids(
    conn: Connection,
    types: Sequence[str],
    ids: Sequence[str],
    id_pattern: str | None,
    limit: int,
    offset: int,
    hidden_type_names: Sequence[str] = (),
) -> list[tuple[str, str]]:
    """Distinct (entity id, type) pairs that have history, for temporal queries."""
    if hidden_type_names:
        visible = not_(type_named(attr_history.c.entity_type, hidden_type_names))
        return _history_ids(conn, types, ids, id_pattern, limit, offset, visible)
    if len(ids) == 1 and not types and not id_pattern and offset == 0 and limit > 0:
        # One id: a single index seek instead of grouping its whole history.
        first = select(attr_history.c.entity_type).where(attr_history.c.entity_id == ids[0])
        found = conn.execute(first.limit(1)).scalar()
        return [] if found is None else [(ids[0], found)]
    return _history_ids(conn, types, ids, id_pattern, limit, offset, true())


def _history_ids(
    conn: Connection,
    types: Sequence[str],
    ids: Sequence[str],
    id_pattern: str | None,
    limit: int,
    offset: int,
    visible: ColumnElement[bool],
) -> list[tuple[str, str]]:
    stmt = (
        select(attr_history.c.entity_id, func.min(attr_history.c.entity_type))
        .where(visible)
        .group_by(attr_history.c.entity_id)
    )
    if types:
        stmt = stmt.where(attr_history.c.entity_type.in_(list(types)))
    if ids:
        stmt = stmt.where(attr_history.c.entity_id.in_(list(ids)))
    if id_pattern:
        stmt = stmt.where(attr_history.c.entity_id.regexp_match(id_pattern))
    stmt = stmt.order_by(attr_history.c.entity_id).limit(limit).offset(offset)
    return [(row[0], row[1]) for row in conn.execute(stmt)]


# --- discovery ---------------------------------------------------------------------------


def type_counts(conn: Connection) -> list[tuple[str, int]]:
    """Each entity type with its number of entities."""
    stmt = select(entities.c.type, func.count()).group_by(entities.c.type).order_by(entities.c.type)
    return [(row[0], int(row[1])) for row in conn.execute(stmt)]


def attribute_usage(conn: Connection, entity_type: str | None = None) -> list[tuple[str, str, int]]:
    """(entity type, attribute IRI, entity count) for every attribute in use."""
    if conn.dialect.name == "postgresql":
        key = func.jsonb_object_keys(entities.c.attrs).label("attr")
        inner = select(entities.c.type, key)
    else:
        each = func.json_each(entities.c.attrs).table_valued("key")
        inner = (
            select(entities.c.type, each.c.key.label("attr"))
            .select_from(entities)
            .join(each, true())
        )
    if entity_type is not None:
        inner = inner.where(entities.c.type == entity_type)
    sub = inner.subquery()
    stmt = select(sub.c.type, sub.c.attr, func.count()).group_by(sub.c.type, sub.c.attr)
    return [(row[0], row[1], int(row[2])) for row in conn.execute(stmt)]
