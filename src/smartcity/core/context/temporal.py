"""NGSI-LD temporal API over the attribute history (ETSI GS CIM 009 v1.8, clauses 6.18-6.22).

Time windows are half-open: ``before`` selects ``t < timeAt``, ``after`` selects
``t >= timeAt`` (inclusive, so that ``after`` and ``before`` at one instant split the
history without a gap), ``between`` selects ``timeAt <= t < endTimeAt``.

Aggregation periods start at the window's start (``timeAt`` for ``after``/``between``),
otherwise at the first instant of the attribute's history in the window. Without
``aggrPeriodDuration`` (or with a zero one) one period covers the whole window; an
open-ended window then ends at the time of the query. Numeric methods (sum, avg, min,
max, stddev, sumsq) use numeric values only and give null for a period without any;
totalCount and distinctCount count every instance. All datasetIds of an attribute are
aggregated together.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import isodate
from sqlalchemy import Connection, Row

from smartcity.core.db import Database, Job, write_operation

from . import repository
from .errors import BadRequestData, ResourceNotFound, TooManyResults
from .model import VALUE_KEYS, Attrs, RenderOptions, TermMapper, render_instance
from .repository import EntityRecord, HistoryFilter
from .service import history_rows
from .times import add_months_us, format_us, now_us, parse_datetime_us, parse_duration_us

AGGR_METHODS = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")
TIMERELS = ("before", "after", "between")
#: Member of the simplified temporal representation that lists each attribute type's values.
TEMPORAL_VALUE_KEYS = {
    "Property": "values",
    "GeoProperty": "values",
    "Relationship": "objects",
    "LanguageProperty": "languageMaps",
    "JsonProperty": "jsons",
    "VocabProperty": "vocabs",
    "ListProperty": "valueLists",
    "ListRelationship": "objectLists",
}
INSTANCE_ID_PREFIX = "urn:ngsi-ld:Instance:"
_ONE_BUCKET_US = 2**62  # a period longer than any history: everything in bucket 0 or 1
_DAY_US = 86_400_000_000


@dataclass
class TemporalQuery:
    """A temporal query in expanded terms (what the API parameters ask for)."""

    timerel: str | None
    time_at_us: int | None
    end_time_at_us: int | None
    last_n: int | None
    attrs: Sequence[str] = ()
    aggr_methods: Sequence[str] = ()
    aggr_period_us: int | None = None
    aggr_period_months: int = 0
    mode: str = "normalized"

    def window(self) -> tuple[int | None, int | None]:
        """The selected time range as (inclusive start, exclusive end); None = open."""
        if self.timerel == "before":
            return None, self.time_at_us
        if self.timerel == "after":
            return self.time_at_us, None
        if self.timerel == "between":
            return self.time_at_us, self.end_time_at_us
        return None, None

    @property
    def has_period(self) -> bool:
        """True when aggregation uses periods shorter than the whole window."""
        return bool(self.aggr_period_months or self.aggr_period_us)


# --- parameters ----------------------------------------------------------------------------


def parse_temporal_params(
    timerel: str | None,
    timeAt: str | None,
    endTimeAt: str | None,
    lastN: str | int | None,
    aggrMethods: str | Sequence[str] | None,
    aggrPeriodDuration: str | None,
    options: str | Collection[str] | None,
) -> TemporalQuery:
    """Validate the temporal query parameters (named as in the API); BadRequestData if wrong."""
    time_at, end_time_at = _parse_timerel(timerel, timeAt, endTimeAt)
    mode = _parse_mode(options)
    methods = _parse_methods(aggrMethods)
    if mode == "aggregatedValues" and not methods:
        raise BadRequestData("options=aggregatedValues needs aggrMethods")
    months, micros = _parse_period(aggrPeriodDuration)
    return TemporalQuery(
        timerel=timerel,
        time_at_us=time_at,
        end_time_at_us=end_time_at,
        last_n=_parse_last_n(lastN),
        aggr_methods=methods,
        aggr_period_us=micros or None,
        aggr_period_months=months,
        mode=mode,
    )


def _parse_timerel(
    timerel: str | None, time_at: str | None, end_time_at: str | None
) -> tuple[int | None, int | None]:
    """Check timerel/timeAt/endTimeAt and return the two instants."""
    if timerel is None:
        if time_at is not None:
            raise BadRequestData("timeAt needs timerel")
        return None, None
    if timerel not in TIMERELS:
        raise BadRequestData(f"timerel must be before, after or between, not {timerel!r}")
    if time_at is None:
        raise BadRequestData("timerel needs timeAt")
    start = parse_datetime_us(time_at, "timeAt")
    if timerel != "between":
        return start, None
    if end_time_at is None:
        raise BadRequestData("timerel=between needs endTimeAt")
    end = parse_datetime_us(end_time_at, "endTimeAt")
    if end <= start:
        raise BadRequestData("endTimeAt must be later than timeAt")
    return start, end


def _parse_mode(options: str | Collection[str] | None) -> str:
    """The representation asked for in `options` (or `format`)."""
    names = _split(options)
    modes = [name for name in ("temporalValues", "aggregatedValues") if name in names]
    if len(modes) > 1:
        raise BadRequestData("temporalValues and aggregatedValues exclude each other")
    return modes[0] if modes else "normalized"


def _parse_methods(methods: str | Sequence[str] | None) -> list[str]:
    """The aggregation methods, checked against the eight the specification defines."""
    names = list(dict.fromkeys(_split(methods)))
    unknown = [name for name in names if name not in AGGR_METHODS]
    if unknown:
        raise BadRequestData(f"unknown aggregation method(s): {', '.join(unknown)}")
    return names


def _parse_period(text: str | None) -> tuple[int, int]:
    """aggrPeriodDuration as (months, microseconds); (0, 0) for none or a zero duration."""
    if text is None or _is_zero_duration(text):
        return 0, 0
    return parse_duration_us(text)


def _is_zero_duration(text: str) -> bool:
    """True for PT0S, P0D and the like (the specification's default: the whole range)."""
    try:
        return bool(isodate.parse_duration(text) == timedelta(0))
    except (isodate.ISO8601Error, ValueError, TypeError):
        return False


def _parse_last_n(value: str | int | None) -> int | None:
    """lastN as a positive integer."""
    if value is None:
        return None
    text = str(value).strip()
    if not text.isdigit() or int(text) < 1:
        raise BadRequestData(f"lastN must be a positive integer, not {value!r}")
    return int(text)


def _split(value: str | Iterable[str] | None) -> list[str]:
    """A comma-separated parameter (or a collection of them) as a list of names."""
    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else value
    return [part.strip() for part in parts if part.strip()]


# --- aggregation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    """What one period of one attribute aggregates to (mergeable except distinct)."""

    total: int
    distinct: int
    n: int
    sum: float
    min: float | None
    max: float | None
    sumsq: float

    @classmethod
    def from_row(cls, row: Row[Any]) -> Stats:
        """Read a row of repository.aggregate_history."""
        return cls(
            total=int(row.total),
            distinct=int(row.distinct),
            n=int(row.n),
            sum=float(row.sum or 0.0),
            min=None if row.min is None else float(row.min),
            max=None if row.max is None else float(row.max),
            sumsq=float(row.sumsq or 0.0),
        )

    def merge(self, other: Stats) -> Stats:
        """Both periods together (except distinct, which must be recounted)."""
        return Stats(
            total=self.total + other.total,
            distinct=max(self.distinct, other.distinct),
            n=self.n + other.n,
            sum=self.sum + other.sum,
            min=_opt(min, self.min, other.min),
            max=_opt(max, self.max, other.max),
            sumsq=self.sumsq + other.sumsq,
        )

    def value(self, method: str) -> float | int | None:
        """The value of one aggregation method."""
        if method == "totalCount":
            return self.total
        if method == "distinctCount":
            return self.distinct
        if not self.n:
            return None
        avg = self.sum / self.n
        numeric: dict[str, float | None] = {
            "sum": self.sum,
            "avg": avg,
            "min": self.min,
            "max": self.max,
            "sumsq": self.sumsq,
            "stddev": math.sqrt(max(self.sumsq / self.n - avg * avg, 0.0)),
        }
        return numeric[method]


def _opt(pick: Any, left: float | None, right: float | None) -> float | None:
    """min/max of two optional numbers."""
    if left is None or right is None:
        return left if right is None else right
    return float(pick(left, right))


@dataclass(frozen=True)
class Period:
    """One aggregation period [start, end) with its statistics."""

    start: int
    end: int
    stats: Stats


@dataclass
class _Budget:
    """How many more history rows one request may read."""

    left: int


class TemporalService:
    """Temporal evolution of entities: reading, aggregating and writing the history."""

    def __init__(self, database: Database, max_instances: int = 10000) -> None:
        self.database = database
        self.max_instances = max_instances

    # --- reading ---------------------------------------------------------------------------

    def entity(
        self, entity_id: str, query: TemporalQuery, ctx: TermMapper, sys_attrs: bool = False
    ) -> dict[str, Any]:
        """The temporal representation of one entity; ResourceNotFound without history."""
        with self.database.read() as conn:
            entity_type = _entity_type(conn, entity_id)
            budget = _Budget(self.max_instances)
            return self._render(conn, entity_id, entity_type, query, ctx, sys_attrs, budget)

    def query(
        self,
        types: Sequence[str],
        ids: Sequence[str],
        id_pattern: str | None,
        query: TemporalQuery,
        ctx: TermMapper,
        limit: int,
        offset: int,
        entity_ids_filter: Collection[str] | None = None,
        sys_attrs: bool = False,
        hidden_type_names: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """One page of temporal entities chosen by type/id/idPattern (and an id filter)."""
        wanted = _restrict_ids(ids, entity_ids_filter)
        if wanted is not None and not wanted:
            return []
        with self.database.read() as conn:
            page = repository.history_entity_ids(
                conn, types, wanted or (), id_pattern, limit, offset, hidden_type_names
            )
            budget = _Budget(self.max_instances)
            return [
                self._render(conn, entity_id, entity_type, query, ctx, sys_attrs, budget)
                for entity_id, entity_type in page
            ]

    def _render(
        self,
        conn: Connection,
        entity_id: str,
        entity_type: str,
        query: TemporalQuery,
        ctx: TermMapper,
        sys_attrs: bool,
        budget: _Budget,
    ) -> dict[str, Any]:
        """One entity in the requested temporal representation."""
        out: dict[str, Any] = {"id": entity_id, "type": ctx.compact(entity_type)}
        if query.mode == "aggregatedValues":
            for iri, (kind, periods) in self._aggregate(conn, entity_id, query).items():
                out[ctx.compact(iri)] = _aggregated_attr(kind, periods, query.aggr_methods)
            return out
        options = RenderOptions(sys_attrs=sys_attrs)
        for iri, rows in self._instances(conn, entity_id, query, budget):
            if query.mode == "temporalValues":
                out[ctx.compact(iri)] = _temporal_values(rows)
            else:
                out[ctx.compact(iri)] = [_instance(row, ctx, options) for row in rows]
        return out

    def _instances(
        self, conn: Connection, entity_id: str, query: TemporalQuery, budget: _Budget
    ) -> Iterator[tuple[str, list[Row[Any]]]]:
        """History rows of the entity in the window, grouped by attribute, time-ordered."""
        start, end = query.window()
        flt = HistoryFilter([entity_id], list(query.attrs), start, end)
        rows = repository.read_history(conn, flt, last_n=query.last_n, limit=budget.left)
        budget.left -= len(rows)
        for iri, group in itertools.groupby(rows, key=lambda row: str(row.attr)):
            yield iri, list(group)

    def _aggregate(
        self, conn: Connection, entity_id: str, query: TemporalQuery
    ) -> dict[str, tuple[str, list[Period]]]:
        """Per attribute: its type and its non-empty aggregation periods."""
        start, end = query.window()
        flt = HistoryFilter([entity_id], list(query.attrs), start, end)
        result: dict[str, tuple[str, list[Period]]] = {}
        for iri, first in self._first_rows(conn, flt).items():
            one = replace(flt, attrs=[iri])
            origin = start if start is not None else int(first.observed_at)
            periods = self._periods(conn, one, origin, query)
            if query.last_n is not None:
                periods = periods[-query.last_n :]
            result[iri] = (str(first.instance.get("type", "Property")), periods)
        return result

    def _first_rows(self, conn: Connection, flt: HistoryFilter) -> dict[str, Row[Any]]:
        """The earliest row of each attribute in the window (attributes found if not named)."""
        names = list(flt.attrs) or _attr_names(conn, flt)
        firsts = {}
        for name in names:
            rows = repository.read_history(conn, replace(flt, attrs=[name]), limit=1)
            if rows:
                firsts[name] = rows[0]
        return firsts

    def _periods(
        self, conn: Connection, flt: HistoryFilter, origin: int, query: TemporalQuery
    ) -> list[Period]:
        """The non-empty periods of one attribute, starting at `origin`."""
        if not query.has_period:
            end = flt.end_us if flt.end_us is not None else max(now_us(), origin)
            rows = _buckets(conn, flt, origin, _ONE_BUCKET_US, query)
            return [Period(origin, end, Stats.from_row(row)) for row in rows]
        self._check_period_count(conn, flt, origin, query)
        if query.aggr_period_months:
            return _calendar_periods(conn, flt, origin, query)
        period = query.aggr_period_us or _ONE_BUCKET_US
        rows = _buckets(conn, flt, origin, period, query)
        return [_fixed_period(row, origin, period, flt.end_us) for row in rows]

    def _check_period_count(
        self, conn: Connection, flt: HistoryFilter, origin: int, query: TemporalQuery
    ) -> None:
        """TooManyResults when the attribute has data beyond max_instances periods."""
        try:
            limit = _boundary(origin, query, self.max_instances)
        except (OverflowError, ValueError):  # beyond year 9999: no history gets there
            return
        if flt.end_us is not None and flt.end_us <= limit:
            return
        if repository.read_history(conn, replace(flt, start_us=limit), limit=1):
            raise TooManyResults(
                f"more than {self.max_instances} aggregation periods: "
                "ask for a longer aggrPeriodDuration or a shorter time range"
            )

    # --- writing ---------------------------------------------------------------------------

    @write_operation
    def create_or_append(self, entity_id: str, entity_types: list[str], attrs: Attrs) -> Job[bool]:
        """Add instances to an entity's history; True if it had none before (created)."""
        if not entity_types:
            raise BadRequestData("a temporal entity needs a type")

        def job(conn: Connection) -> bool:
            existed = _has_history(conn, entity_id)
            if not existed and not _count_instances(attrs):
                raise BadRequestData("a new temporal entity needs at least one attribute instance")
            _append(conn, entity_id, entity_types[0], attrs)
            return not existed

        return job

    @write_operation
    def append_attrs(self, entity_id: str, attrs: Attrs) -> Job[None]:
        """Add instances to the history of an entity that has one; ResourceNotFound otherwise."""

        def job(conn: Connection) -> None:
            _append(conn, entity_id, _entity_type(conn, entity_id), attrs)

        return job

    @write_operation
    def delete(self, entity_id: str) -> Job[None]:
        """Delete the whole history of an entity; ResourceNotFound if it has none."""

        def job(conn: Connection) -> None:
            if not repository.delete_history(conn, entity_id):
                raise ResourceNotFound(f"entity {entity_id} has no temporal history")

        return job


# --- helpers -------------------------------------------------------------------------------


def _has_history(conn: Connection, entity_id: str) -> bool:
    """True when the entity has at least one history row."""
    return bool(repository.read_history(conn, HistoryFilter([entity_id]), limit=1))


def _entity_type(conn: Connection, entity_id: str) -> str:
    """The entity's type (current state first: cheaper than scanning its history)."""
    if not _has_history(conn, entity_id):
        raise ResourceNotFound(f"entity {entity_id} has no temporal history")
    current = repository.get_entity(conn, entity_id)
    if current is not None:
        return current.types[0]
    found = repository.history_entity_ids(conn, (), [entity_id], None, 1, 0)
    return found[0][1]


def _buckets(
    conn: Connection, flt: HistoryFilter, origin: int, period: int, query: TemporalQuery
) -> list[Row[Any]]:
    """Fixed-length buckets, counting distinct values only when distinctCount is asked."""
    distinct = "distinctCount" in query.aggr_methods
    return repository.aggregate_history(conn, flt, origin, period, distinct=distinct)


def _restrict_ids(ids: Sequence[str], allowed: Collection[str] | None) -> list[str] | None:
    """The ids to select: `ids` narrowed to `allowed`; None = no restriction."""
    if allowed is None:
        return list(ids) if ids else None
    if not ids:
        return sorted(allowed)
    return [entity_id for entity_id in ids if entity_id in allowed]


def _attr_names(conn: Connection, flt: HistoryFilter) -> list[str]:
    """The attributes with history in the window (index seeks, not a pass over the window)."""
    names: dict[str, None] = {}
    for entity_id in flt.entity_ids:
        for attr in repository.history_attrs(conn, entity_id):
            one = replace(flt, entity_ids=[entity_id], attrs=[attr])
            if repository.read_history(conn, one, limit=1):
                names[attr] = None
    return list(names)


def _fixed_period(row: Row[Any], origin: int, period: int, end: int | None) -> Period:
    """A Period from an aggregate row of fixed-length buckets (clipped to the window)."""
    start = origin + int(row.bucket) * period
    stop = start + period if end is None else min(start + period, end)
    return Period(start, stop, Stats.from_row(row))


def _calendar_periods(
    conn: Connection, flt: HistoryFilter, origin: int, query: TemporalQuery
) -> list[Period]:
    """Periods of calendar months (plus any fixed part), merged from fine SQL buckets.

    Every boundary lies a whole number of `fine` steps after `origin`, so fine
    buckets never straddle a boundary; distinctCount, which does not merge, is
    recounted with one query per non-empty period when it is asked for.
    """
    micros = query.aggr_period_us or 0
    fine = math.gcd(_DAY_US, micros) if micros else _DAY_US
    rows = repository.aggregate_history(conn, flt, origin, fine, distinct=False)
    bounds = [origin]
    merged: dict[int, Stats] = {}
    for row in rows:
        instant = origin + int(row.bucket) * fine
        while bounds[-1] <= instant:
            bounds.append(_boundary(origin, query, len(bounds)))
        index = bisect.bisect_right(bounds, instant) - 1
        stats = Stats.from_row(row)
        merged[index] = merged[index].merge(stats) if index in merged else stats
    periods = [_clip(Period(bounds[i], bounds[i + 1], s), flt.end_us) for i, s in merged.items()]
    if "distinctCount" in query.aggr_methods:
        periods = [_recount_distinct(conn, flt, period) for period in periods]
    return periods


def _boundary(origin: int, query: TemporalQuery, index: int) -> int:
    """Where aggregation period number `index` starts."""
    months = add_months_us(origin, index * query.aggr_period_months)
    return months + index * (query.aggr_period_us or 0)


def _clip(period: Period, end: int | None) -> Period:
    """The period ending no later than the window."""
    return period if end is None or period.end <= end else replace(period, end=end)


def _recount_distinct(conn: Connection, flt: HistoryFilter, period: Period) -> Period:
    """The period with distinctCount counted over exactly its range."""
    one = replace(flt, start_us=period.start, end_us=period.end)
    rows = repository.aggregate_history(conn, one, period.start, _ONE_BUCKET_US)
    distinct = sum(int(row.distinct) for row in rows)
    return replace(period, stats=replace(period.stats, distinct=distinct))


def _aggregated_attr(kind: str, periods: list[Period], methods: Sequence[str]) -> dict[str, Any]:
    """The aggregated temporal representation of one attribute."""
    out: dict[str, Any] = {"type": kind}
    labels = [(format_us(period.start), format_us(period.end)) for period in periods]
    for method in methods:
        out[method] = [
            [period.stats.value(method), *label]
            for period, label in zip(periods, labels, strict=True)
        ]
    return out


def _temporal_values(rows: list[Row[Any]]) -> dict[str, Any] | list[dict[str, Any]]:
    """The simplified temporal representation: [value, observedAt] pairs per type/datasetId."""
    groups: dict[tuple[str, str | None], dict[str, Any]] = {}
    for row in rows:
        kind = str(row.instance.get("type", "Property"))
        dataset_id = row.instance.get("datasetId")
        key = TEMPORAL_VALUE_KEYS.get(kind, "values")
        group = groups.get((kind, dataset_id))
        if group is None:
            group = groups[kind, dataset_id] = {"type": kind, key: []}
            if dataset_id is not None:
                group["datasetId"] = dataset_id
        value = row.instance.get(VALUE_KEYS.get(kind, "value"))
        group[key].append([value, format_us(row.observed_at)])
    shown = list(groups.values())
    return shown[0] if len(shown) == 1 else shown


def _instance(row: Row[Any], ctx: TermMapper, options: RenderOptions) -> Any:
    """One history instance, always with its observedAt and an instanceId."""
    instance = dict(row.instance)
    instance.setdefault("observedAt", format_us(row.observed_at))
    instance["instanceId"] = f"{INSTANCE_ID_PREFIX}{row.pk}"
    return render_instance(instance, ctx, options)


def _count_instances(attrs: Attrs) -> int:
    """How many attribute instances a payload carries."""
    return sum(len(instances) for instances in attrs.values())


def _append(conn: Connection, entity_id: str, entity_type: str, attrs: Attrs) -> None:
    """Write one history row per instance (observedAt, else now)."""
    now = now_us()
    record = EntityRecord(
        id=entity_id, types=[entity_type], attrs={}, created_at=now, modified_at=now
    )
    repository.append_history(conn, history_rows(record, attrs, now))
