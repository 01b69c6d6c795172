"""What a domain's runtime gets from the platform, and the worker that feeds it changes.

A domain that computes things from the city's data (an index from sensor readings, a gate
command from a salinity reading) declares `Domain.setup`. At start-up the platform calls it
with `PlatformServices` and mounts what it returns: change handlers, jobs, and the service
its routes use (`app.state.domains[name]`).

Change handlers run on the leader, in a thread of their own per domain (`ChangeWorker`), so
a slow computation never holds up the change feed, subscriptions or rules. Changes waiting
for the worker are coalesced per entity (the handler reads current values and history, so
the newest change of an entity stands for the ones before it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smartcity.core.context.access import local_name
from smartcity.core.events import Event
from smartcity.core.registry import Job

if TYPE_CHECKING:
    from smartcity.config import Settings
    from smartcity.core.alerts.service import AlertService
    from smartcity.core.context.local import LocalContextClient
    from smartcity.core.context.temporal import TemporalService
    from smartcity.core.db import Database
    from smartcity.core.events import EventBus
    from smartcity.core.ingest.commands import CommandService
    from smartcity.core.ingest.devices import DeviceRegistry

log = logging.getLogger(__name__)

#: A domain's handler of entity changes (create/update events of the types it watches).
ChangeHandler = Callable[[list[Event]], object]


@dataclass(frozen=True)
class PlatformServices:
    """The kernel services a domain's runtime may use (given once, at start-up)."""

    settings: Settings
    database: Database
    context: LocalContextClient
    temporal: TemporalService
    devices: DeviceRegistry
    commands: CommandService
    events: EventBus
    #: Alerts for the operations room (a domain may raise one for something it records).
    alerts: AlertService | None = None


@dataclass
class DomainRuntime:
    """What a domain's setup returns: its service, change handlers and jobs."""

    service: Any = None
    #: (entity types watched, handler); run on the leader by a ChangeWorker.
    on_changes: Sequence[tuple[Sequence[str], ChangeHandler]] = ()
    jobs: Sequence[Job] = ()


@dataclass
class ChangeWorker:
    """Hands entity changes of some types to a handler in its own thread, coalesced by entity."""

    name: str
    types: frozenset[str]
    handler: ChangeHandler
    max_batch: int = 500
    _pending: dict[str, Event] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: threading.Event = field(default_factory=threading.Event)
    _idle: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def offer(self, events: Iterable[Event]) -> None:
        """Queue the creations and updates of watched types (called by the change feed)."""
        wanted = [
            e
            for e in events
            if e.topic in ("entity.create", "entity.update") and self._watched(e.data.get("type"))
        ]
        if not wanted:
            return
        with self._lock:
            for event in wanted:
                earlier = self._pending.pop(event.subject, None)  # queued again at the end
                self._pending[event.subject] = event if earlier is None else _merged(earlier, event)
            self._idle.clear()
        self._wake.set()

    def _watched(self, entity_type: object) -> bool:
        types = entity_type if isinstance(entity_type, list) else [entity_type]
        return any(isinstance(t, str) and local_name(t) in self.types for t in types)

    def start(self) -> None:
        """Start the worker thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"domain-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the batch being handled."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until nothing is queued or being handled (for tests and benchmarks)."""
        return self._idle.wait(timeout_s)

    def _take(self) -> list[Event]:
        with self._lock:
            keys = list(self._pending)[: self.max_batch]
            return [self._pending.pop(key) for key in keys]

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._take()
            if not batch:
                with self._lock:
                    if not self._pending:
                        self._idle.set()
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                self.handler(batch)
            except Exception:
                # A failing computation must not stop the domain: log it, go on with the next.
                log.exception("domain %s: handler failed on %d changes", self.name, len(batch))


def _merged(earlier: Event, later: Event) -> Event:
    """One change standing for two of the same entity: the later one, with both attribute sets.

    A handler that skips changes of only its own derived attributes must still see that a
    reading came in before them.
    """
    attrs = {**(earlier.data.get("attrs") or {}), **(later.data.get("attrs") or {})}
    return Event(later.topic, later.subject, {**later.data, "attrs": attrs}, later.at_us)


def changed_attrs(event: Event) -> set[str]:
    """The short names of the attributes a change wrote (`pm25`, not its IRI)."""
    return {local_name(iri) for iri in event.data.get("attrs") or {}}
