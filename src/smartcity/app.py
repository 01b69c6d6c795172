"""The one place the ASGI app is assembled: core routers plus the registered domains."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from smartcity import __version__
from smartcity.config import Settings, get_settings
from smartcity.core.alerts import api as alerts_api
from smartcity.core.alerts.runtime import (
    LeaderWork,
    build_alert_notifier,
    build_alerting,
    install_configuration,
    leader_jobs,
)
from smartcity.core.auth import api as auth_api
from smartcity.core.auth.audit import AuditLog
from smartcity.core.auth.credentials import TokenSigner, load_secret_key
from smartcity.core.auth.deps import AuthState, Permission
from smartcity.core.auth.errors import AuthError
from smartcity.core.auth.middleware import AuditTrail, BodySizeLimit, SecurityHeaders
from smartcity.core.auth.policy import Action, Resource
from smartcity.core.auth.ratelimit import RateLimits
from smartcity.core.auth.service import AuthConfig, AuthService
from smartcity.core.context import api as ngsi_api
from smartcity.core.context import subscriptions_api, temporal_api
from smartcity.core.context.access import local_name
from smartcity.core.context.errors import (
    BadRequestData,
    InternalError,
    NgsiLdError,
    OperationNotSupported,
    ResourceNotFound,
)
from smartcity.core.context.feed import ChangeFeed
from smartcity.core.context.jsonld import ContextResolver
from smartcity.core.context.local import LocalContextClient
from smartcity.core.context.notifier import Notifier
from smartcity.core.context.service import ContextBroker
from smartcity.core.context.subscriptions import SubscriptionService
from smartcity.core.context.temporal import TemporalService
from smartcity.core.db import Database, open_database
from smartcity.core.domainrun import ChangeWorker, DomainRuntime, PlatformServices
from smartcity.core.eventbridge import NatsBridge
from smartcity.core.events import EventBus
from smartcity.core.ingest import api as ingest_api
from smartcity.core.ingest.runtime import IngestRuntime, build_ingest
from smartcity.core.jobs import Leadership, Scheduler
from smartcity.core.kpis import KpiService
from smartcity.core.registry import DOMAINS, Domain, Job
from smartcity.domains import (
    agriculture,
    citizen,
    energy,
    environment,
    lighting,
    security,
    traffic,
    waste,
)
from smartcity.web import exports, kpis_api, maplayers, pages, reports_api
from smartcity.web.report import DailyReporter

log = logging.getLogger(__name__)

#: The domains this platform runs, listed explicitly (see ARCHITECTURE.md).
REGISTERED_DOMAINS: list[Domain] = [
    environment.domain,
    traffic.domain,
    lighting.domain,
    waste.domain,
    energy.domain,
    agriculture.domain,
    security.domain,
    citizen.domain,
]


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """Build the platform's ASGI app over `database` (opened from settings when omitted)."""
    settings = settings or get_settings()
    db = database or open_database(settings.resolved_database_url())

    events = EventBus()
    broker = ContextBroker(db)
    ingest = build_ingest(settings, db, broker, events)
    runtime = IngestRuntime(settings, ingest)
    resolver = ContextResolver(
        timeout_s=settings.context_fetch_timeout_s, cache_ttl_s=settings.context_cache_ttl_s
    )
    subscriptions = SubscriptionService(db, resolver)
    feed = ChangeFeed(db, events, poll_s=settings.feed_poll_s)
    alerting = build_alerting(settings, db, broker, events, resolver.resolve(None))
    feed.handlers.append(subscriptions.on_changes)
    feed.handlers.append(alerting.engine.on_changes)
    notifier = Notifier(db)
    alert_notifier = build_alert_notifier(settings, db)
    events.subscribe("alert.", lambda _event: alert_notifier.wake())
    leadership = Leadership(db, retry_s=settings.leader_retry_s, lock_dir=settings.data_dir)
    leader_work = LeaderWork(feed, [notifier, alert_notifier])
    leadership.on_elected(leader_work.start)
    leadership.on_deposed(leader_work.stop)
    scheduler = Scheduler(leadership)
    for job in leader_jobs(settings, alerting):
        scheduler.add(job)
    scheduler.add(Job("periodic-subscriptions", timedelta(seconds=1), subscriptions.periodic_due))
    keep_s = settings.change_feed_retention_h * 3600
    scheduler.add(Job("change-feed-retention", timedelta(minutes=10), lambda: feed.purge(keep_s)))
    kpis = KpiService(db, broker, resolver.resolve(None), lambda: REGISTERED_DOMAINS)
    scheduler.add(Job("kpi-snapshots", timedelta(minutes=5), kpis.snapshot))
    reporter = DailyReporter(settings, alerting, kpis, db, reports_api.render_html)
    scheduler.add(Job("daily-report", timedelta(minutes=5), reporter.run))
    for domain in REGISTERED_DOMAINS:
        for domain_job in domain.jobs:
            scheduler.add(domain_job)
    platform = PlatformServices(
        settings=settings,
        database=db,
        context=LocalContextClient(db),
        temporal=TemporalService(db, max_instances=settings.temporal_max_instances),
        devices=ingest.devices,
        commands=ingest.commands,
        events=events,
        alerts=alerting.alerts,
    )
    domain_runtimes, change_workers = _set_up_domains(platform, scheduler, feed)
    leader_work.workers.extend(change_workers)
    bridge = None
    if settings.nats_url:
        bridge = NatsBridge(
            events, settings.nats_url, settings.nats_stream, settings.nats_subject_prefix
        )

    running: list[bool] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Tests may enter one app's lifespan from two clients at once: the first starts
        # the background work, the last one out stops it.
        running.append(True)
        if len(running) == 1:
            runtime.start()
            feed.mark_start()
            install_configuration(settings, alerting, REGISTERED_DOMAINS)
            if bridge is not None:
                bridge.start()
            if settings.lead:
                leadership.start()
                scheduler.start()
        yield
        running.pop()
        if running:
            return
        scheduler.stop()
        leadership.stop()
        if bridge is not None:
            bridge.stop()
        runtime.stop()
        if database is None:
            db.dispose()

    app = PlatformApp(
        title="Cần Thơ Smart City Platform",
        version=__version__,
        lifespan=lifespan,
        description="Intelligent Operations Center: NGSI-LD context broker and city domains.",
    )
    app.state.settings = settings
    app.hsts = settings.https
    app.state.database = db
    app.state.events = events
    app.state.subscriptions = subscriptions
    app.state.change_feed = feed
    app.state.notifier = notifier
    app.state.alerting = alerting
    app.state.alert_notifier = alert_notifier
    app.state.leadership = leadership
    app.state.event_bridge = bridge
    app.state.ingest = ingest
    app.state.ingest_runtime = runtime
    app.state.ngsi = ngsi_api.BrokerState(
        broker=broker,
        resolver=resolver,
        temporal=TemporalService(db, max_instances=settings.temporal_max_instances),
        max_body_bytes=settings.max_body_bytes,
        default_limit=settings.query_default_limit,
        max_limit=settings.query_max_limit,
    )
    app.state.auth = build_auth_state(settings, db)
    _install_error_handlers(app)
    _install_middleware(app, settings)
    app.include_router(auth_api.auth_router)
    app.include_router(auth_api.admin_router)
    app.include_router(ngsi_api.router)
    app.include_router(temporal_api.router)
    app.include_router(subscriptions_api.router)
    app.include_router(ingest_api.router)
    app.include_router(alerts_api.router)
    app.include_router(alerts_api.me_router)
    app.include_router(maplayers.router)
    app.include_router(exports.router)
    app.include_router(kpis_api.router)
    app.include_router(reports_api.router)
    app.include_router(pages.router)
    app.include_router(ngsi_api.fallback_router)
    _mount_domains(app)
    app.state.map_layers = maplayers.LayerBuilder(broker, resolver.resolve(None))
    app.state.kpis = kpis
    app.state.domains = domain_runtimes
    app.state.change_workers = change_workers

    @app.get(
        "/healthz",
        tags=["platform"],
        dependencies=[Depends(Permission(Action.READ, Resource.PUBLIC))],
    )
    def healthz() -> dict[str, Any]:
        """Liveness: version, storage backend, and whether this process leads (runs the jobs)."""
        return {
            "status": "ok",
            "version": __version__,
            "backend": db.dialect,
            "leader": leadership.is_leader,
        }

    return app


def build_auth_state(settings: Settings, db: Database) -> AuthState:
    """Accounts service, audit log and rate limits, configured from settings."""
    signer = TokenSigner(load_secret_key(settings.secret_key, settings.data_dir))
    config = AuthConfig(
        access_ttl_s=settings.access_token_ttl_s,
        refresh_ttl_s=settings.refresh_token_ttl_s,
        cookie_ttl_s=settings.session_ttl_s,
        lockout_after=settings.lockout_after_failures,
        lockout_s=settings.lockout_s,
        key_cache_s=settings.api_key_cache_s,
    )
    return AuthState(
        service=AuthService(db, signer, config),
        audit=AuditLog(db),
        limits=RateLimits(
            settings.sign_in_rate_limit, settings.anonymous_rate_limit, settings.rate_limit_storage
        ),
        public_context_read=settings.public_context_read,
        personal_entity_types=frozenset(local_name(t) for t in settings.personal_entity_types),
        secure_cookies=settings.https,
    )


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    """Innermost first: Starlette wraps each new middleware around the ones before."""
    app.add_middleware(StripTrailingSlash)
    app.add_middleware(AuditTrail, audit=app.state.auth.audit)
    uploads = {
        "/open311/v2/requests": settings.citizen_upload_max_bytes,
        "/api/citizen/reports/": settings.citizen_upload_max_bytes,
    }
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, larger=uploads)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["NGSILD-Results-Count", "Location", "Link"],
        )


class PlatformApp(FastAPI):
    """FastAPI with the security headers outside everything, even the 500 error handler."""

    hsts: bool = False

    def build_middleware_stack(self) -> ASGIApp:
        """Starlette's stack (error handling outermost) wrapped in SecurityHeaders."""
        return SecurityHeaders(super().build_middleware_stack(), hsts=self.hsts)


class StripTrailingSlash:
    """Serve `/ngsi-ld/v1/entities/` as `/ngsi-ld/v1/entities` (ngsildclient adds the slash).

    Without this, `/entities/` matches `/entities/{id}` with an empty id and POST gets 405.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/ngsi-ld/") and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/")}
        await self.app(scope, receive, send)


def _set_up_domains(
    platform: PlatformServices, scheduler: Scheduler, feed: ChangeFeed
) -> tuple[dict[str, DomainRuntime], list[ChangeWorker]]:
    """Start-up of the domains that compute: their services, jobs and change workers."""
    runtimes: dict[str, DomainRuntime] = {}
    workers: list[ChangeWorker] = []
    for domain in REGISTERED_DOMAINS:
        if domain.setup is None:
            continue
        runtime = domain.setup(platform)
        runtimes[domain.name] = runtime
        if not platform.settings.domain_computations:
            continue
        for job in runtime.jobs:
            scheduler.add(job)
        for index, (types, handler) in enumerate(runtime.on_changes):
            worker = ChangeWorker(f"{domain.name}-{index}", frozenset(types), handler)
            feed.handlers.append(worker.offer)
            workers.append(worker)
    return runtimes, workers


def _mount_domains(app: FastAPI) -> None:
    DOMAINS[:] = REGISTERED_DOMAINS
    for domain in REGISTERED_DOMAINS:
        if domain.router is not None:
            app.include_router(domain.router, prefix=f"/api/{domain.name}")
        if domain.root_router is not None:
            app.include_router(domain.root_router)


def _problem_response(error: NgsiLdError, request: Request) -> Response:
    body = error.to_problem(instance=request.url.path)
    return Response(orjson.dumps(body), status_code=error.status, media_type="application/json")


def _install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as NGSI-LD ProblemDetails."""

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError) -> Response:
        body = {
            "type": "about:blank",
            "title": exc.title,
            "status": exc.status,
            "detail": exc.detail,
            "instance": request.url.path,
        }
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return Response(
            orjson.dumps(body),
            status_code=exc.status,
            media_type="application/problem+json",
            headers=headers,
        )

    ingest_api.install_error_handler(app)

    @app.exception_handler(NgsiLdError)
    async def _ngsi_error(request: Request, exc: NgsiLdError) -> Response:
        return _problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        return _problem_response(BadRequestData(str(exc.errors())), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _problem_response(
                ResourceNotFound(f"no such resource: {request.url.path}"), request
            )
        if exc.status_code == 405:
            error = OperationNotSupported(f"{request.method} is not supported on this resource")
            error.status = 405
            return _problem_response(error, request)
        generic = NgsiLdError(str(exc.detail))
        generic.status = exc.status_code
        return _problem_response(generic, request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _problem_response(InternalError("internal error; see the server log"), request)
