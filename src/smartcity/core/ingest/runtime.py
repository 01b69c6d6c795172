"""Assembles ingestion from settings and runs its background parts (MQTT, the sweep)."""

from __future__ import annotations

import logging
import threading

from prometheus_client import CollectorRegistry

from smartcity.config import Settings
from smartcity.core.context.jsonld import ContextResolver
from smartcity.core.context.service import ContextBroker
from smartcity.core.context.times import now_us
from smartcity.core.db import Database
from smartcity.core.events import EventBus

from . import repository
from .api import IngestState
from .commands import CommandService
from .devices import DeviceRegistry
from .mqtt import MqttSouthbound
from .pipeline import IngestMetrics, Ingestor

log = logging.getLogger(__name__)


def build_ingest(
    settings: Settings, database: Database, broker: ContextBroker, events: EventBus
) -> IngestState:
    """Device registry, pipeline and commands over `database`, configured from settings."""
    ctx = ContextResolver().resolve(None)
    devices = DeviceRegistry(database, broker, ctx, cache_s=settings.device_cache_s)
    registry = CollectorRegistry()
    ingestor = Ingestor(
        database,
        devices,
        ctx,
        events,
        IngestMetrics(registry),
        max_pending=settings.ingest_max_pending,
        batch_max=settings.ingest_batch_max,
        max_future_s=settings.ingest_max_future_s,
    )
    commands = CommandService(
        database,
        devices,
        ctx,
        events,
        timeout_s=settings.command_timeout_s,
        health_mirror_s=settings.device_health_mirror_s,
    )
    return IngestState(devices, ingestor, commands, registry)


class IngestRuntime:
    """Starts and stops the MQTT southbound (when configured) and the periodic sweep."""

    def __init__(self, settings: Settings, state: IngestState) -> None:
        self.settings = settings
        self.state = state
        self.mqtt: MqttSouthbound | None = None
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    def start(self, *, sweep: bool = True) -> None:
        """Connect to MQTT if SMARTCITY_MQTT_URL is set; start the sweep thread."""
        if self.settings.mqtt_url:
            self.mqtt = MqttSouthbound(
                self.settings.mqtt_url,
                self.state.ingestor,
                client_id=self.settings.mqtt_client_id,
                share_group=self.settings.mqtt_share_group,
                receive_maximum=self.settings.mqtt_receive_maximum,
                session_expiry_s=self.settings.mqtt_session_expiry_s,
            )
            self.state.commands.link = self.mqtt
            self.mqtt.start()
        if sweep:
            self._sweeper = threading.Thread(
                target=self._sweep_loop, name="device-sweep", daemon=True
            )
            self._sweeper.start()

    def stop(self) -> None:
        """Stop the sweep and disconnect from MQTT."""
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=10)
        if self.mqtt is not None:
            self.mqtt.stop()
            self.state.commands.link = None

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.settings.device_sweep_s):
            try:
                self.sweep()
            except Exception:
                log.exception("device sweep failed; trying again next time")

    def sweep(self) -> None:
        """One round: expire commands, mark silent devices offline, drop old dead letters."""
        # Each step on its own: one failing must not stop the others for good.
        for step in (self.state.commands.expire, self.state.commands.sweep_health, self._purge):
            try:
                step()
            except Exception:
                log.exception("device sweep step %s failed", step.__name__)

    def _purge(self) -> int:
        keep_us = int(self.settings.dead_letter_retention_days * 86400 * 1e6)
        return self.state.devices.database.run_write(
            lambda conn: repository.purge_dead_letters(conn, now_us() - keep_us)
        )
