"""The environment domain's indicators: small pure helpers over current values."""

from __future__ import annotations

from smartcity.core.kpis import KpiReader


def count_above(reader: KpiReader, entity_type: str, attr: str, limit: float) -> int:
    """How many entities of a type have `attr` above a limit now."""
    return sum(1 for value in reader.numbers(entity_type, attr) if value > limit)
