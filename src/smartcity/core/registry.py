"""The Domain contract: what a domain declares so that core can mount and run it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from sqlalchemy import MetaData

if TYPE_CHECKING:
    from smartcity.core.domainrun import DomainRuntime, PlatformServices


@dataclass(frozen=True)
class Job:
    """Periodic work a domain asks the scheduler to run."""

    name: str
    every: timedelta
    run: Callable[..., Any]


@dataclass(frozen=True)
class MapLayer:
    """A layer the IOC map can show: which entity type, how to colour it.

    Colour by a number with `steps` ((upper bound, colour), ascending; above the last bound
    the last colour) or by a text/boolean with `categories` (value → colour).
    """

    key: str
    entity_type: str
    title_vi: str
    title_en: str
    color_attr: str | None = None
    steps: Sequence[tuple[float, str]] = ()
    categories: Mapping[str, str] = field(default_factory=dict)
    unit: str = ""
    #: Only entities that have this attribute (two layers over one entity type).
    require_attr: str | None = None
    #: Shown on the map when the page opens.
    visible: bool = True

    def color_of(self, value: object) -> str:
        """The marker colour for a value of `color_attr`."""
        if isinstance(value, bool | str):
            other = self.categories.get("*", NO_DATA_COLOR)  # "*": any other value
            return self.categories.get(str(value).lower(), other)
        if isinstance(value, int | float) and self.steps:
            for bound, color in self.steps:
                if value <= bound:
                    return color
            return self.steps[-1][1]
        return NO_DATA_COLOR


#: Markers without a usable value.
NO_DATA_COLOR = "#9e9e9e"


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
    #: Routes of a standard with its own paths (Open311 at /open311/v2, FHIR at /fhir).
    root_router: APIRouter | None = None
    entity_types: Sequence[str] = ()
    metadata: MetaData | None = None
    jobs: Sequence[Job] = ()
    map_layers: Sequence[MapLayer] = ()
    kpis: Sequence[Kpi] = ()
    alert_rules: Sequence[Any] = field(default_factory=tuple)
    #: Called once at start-up for domains that compute from the city's data (domainrun.py).
    setup: Callable[[PlatformServices], DomainRuntime] | None = None


#: The domains the platform runs, in mount order. app.py lists them explicitly.
DOMAINS: list[Domain] = []


def all_metadata() -> list[MetaData]:
    """Table metadata of core and every registered domain (for Alembic)."""
    from smartcity.core.alerts.tables import metadata as alerts_metadata
    from smartcity.core.auth.tables import metadata as auth_metadata
    from smartcity.core.context.tables import metadata as context_metadata
    from smartcity.core.ingest.tables import metadata as ingest_metadata
    from smartcity.core.kpis import metadata as kpi_metadata

    return [
        context_metadata,
        auth_metadata,
        ingest_metadata,
        alerts_metadata,
        kpi_metadata,
        *(d.metadata for d in DOMAINS if d.metadata is not None),
    ]
