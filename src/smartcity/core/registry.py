"""The Domain contract: what a domain declares so that core can mount and run it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from sqlalchemy import MetaData


@dataclass(frozen=True)
class Job:
    """Periodic work a domain asks the scheduler to run."""

    name: str
    every: timedelta
    run: Callable[..., Any]


@dataclass(frozen=True)
class MapLayer:
    """A layer the IOC map can show: which entity type, how to colour it."""

    key: str
    entity_type: str
    title_vi: str
    title_en: str
    color_attr: str | None = None


@dataclass(frozen=True)
class Kpi:
    """A city indicator a domain computes."""

    key: str
    title_vi: str
    title_en: str
    unit: str
    compute: Callable[..., Any]


@dataclass(frozen=True)
class Domain:
    """One pillar of the platform, declared once and mounted under /api/<name>."""

    name: str
    router: APIRouter | None = None
    entity_types: Sequence[str] = ()
    metadata: MetaData | None = None
    jobs: Sequence[Job] = ()
    map_layers: Sequence[MapLayer] = ()
    kpis: Sequence[Kpi] = ()
    alert_rules: Sequence[Any] = field(default_factory=tuple)


#: The domains the platform runs, in mount order. app.py lists them explicitly.
DOMAINS: list[Domain] = []


def all_metadata() -> list[MetaData]:
    """Table metadata of core and every registered domain (for Alembic)."""
    from smartcity.core.alerts.tables import metadata as alerts_metadata
    from smartcity.core.auth.tables import metadata as auth_metadata
    from smartcity.core.context.tables import metadata as context_metadata
    from smartcity.core.ingest.tables import metadata as ingest_metadata

    return [
        context_metadata,
        auth_metadata,
        ingest_metadata,
        alerts_metadata,
        *(d.metadata for d in DOMAINS if d.metadata is not None),
    ]
