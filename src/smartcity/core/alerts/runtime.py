"""Assembling the alerting services, and the work that runs on exactly one process.

Every process serves the alert API and the server-sent event stream. One process, the
leader (core/jobs.py: a PostgreSQL advisory lock, or a file lock beside a SQLite database),
also follows the change feed (NGSI-LD subscriptions' outbox, rule evaluation), delivers
notifications and runs the periodic jobs (escalation, absence-of-data checks). Events the
leader publishes reach the other processes through NATS when it is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from sqlalchemy.exc import IntegrityError

from smartcity.config import Settings
from smartcity.core.context.feed import ChangeFeed
from smartcity.core.context.jsonld import ActiveContext
from smartcity.core.context.service import ContextBroker
from smartcity.core.db import Database
from smartcity.core.events import EventBus
from smartcity.core.registry import Domain, Job

from .api import Alerting
from .incidents import IncidentService
from .notify import AlertNotifier, SmtpConfig
from .rules import RuleEngine, RuleService
from .service import AlertService

log = logging.getLogger(__name__)


class Startable(Protocol):
    """Something with a background thread."""

    def start(self) -> None:
        """Start it."""

    def stop(self) -> None:
        """Stop it."""


def build_alerting(
    settings: Settings, db: Database, broker: ContextBroker, bus: EventBus, ctx: ActiveContext
) -> Alerting:
    """The alert, rule and incident services of one process."""
    alerts = AlertService(db, broker, ctx, bus)
    rules = RuleService(db)
    engine = RuleEngine(db, alerts, ctx)
    # A rule made here applies to the very next change; other processes see it within
    # the engine's reload interval.
    rules.on_change.append(engine.invalidate)
    return Alerting(
        alerts=alerts,
        rules=rules,
        incidents=IncidentService(db, alerts, bus),
        engine=engine,
        bus=bus,
    )


def build_alert_notifier(settings: Settings, db: Database) -> AlertNotifier:
    """The e-mail and webhook sender, configured from settings."""
    smtp = SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        sender=settings.smtp_sender,
    )
    return AlertNotifier(db, smtp)


def leader_jobs(settings: Settings, alerting: Alerting) -> list[Job]:
    """The periodic jobs of the alerting core (run on the leader only)."""
    return [
        Job(
            "alert-escalation",
            timedelta(seconds=settings.alert_sweep_s),
            alerting.alerts.escalate_due,
        ),
        Job("absence-of-data", timedelta(seconds=settings.absence_sweep_s), alerting.engine.sweep),
    ]


def install_configuration(
    settings: Settings, alerting: Alerting, domains: Sequence[Domain] = ()
) -> None:
    """Install the shipped SOPs, the domains' default rules and the data dir's rule files
    (any process may; idempotent)."""
    try:
        alerting.incidents.install_seed()
        alerting.rules.install_defaults(rule for d in domains for rule in d.alert_rules)
        count = alerting.rules.load_files(settings.data_dir / "rules")
    except IntegrityError:
        log.info("another process installed the alert configuration at the same time")
        return
    if count:
        log.info("%d alert rules loaded from %s", count, settings.data_dir / "rules")


class LeaderWork:
    """What the leader runs: the change feed and the notifiers (started when elected)."""

    def __init__(self, feed: ChangeFeed, workers: list[Startable]) -> None:
        self.feed = feed
        self.workers = workers
        self.running = False

    def start(self) -> None:
        """Become the one process that follows the feed and sends notifications."""
        if self.running:
            return
        self.running = True
        self.feed.start()
        for worker in self.workers:
            worker.start()
        log.info("this process leads: change feed, notifications and jobs run here")

    def stop(self) -> None:
        """Hand the work over (deposed or shutting down)."""
        if not self.running:
            return
        self.running = False
        for worker in reversed(self.workers):
            worker.stop()
        self.feed.stop()
