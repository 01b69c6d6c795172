"""The `smartcity` command: run, migrate, ingest, devices, users, keys, audit."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from smartcity.config import Settings
from smartcity.core.auth.errors import AuthError
from smartcity.core.auth.seed import DemoLogin, seed_demo_accounts, seed_departments
from smartcity.core.context.times import now_us

if TYPE_CHECKING:
    import httpx

    from smartcity.core.auth.deps import AuthState
    from smartcity.core.auth.service import AuthService
    from smartcity.core.db import Database
    from smartcity.simulator.session import Plan
    from smartcity.simulator.timebase import ScenarioName

app = typer.Typer(help="Cần Thơ Smart City Platform", no_args_is_help=True)
users_app = typer.Typer(help="User accounts", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for devices and integrators", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log", no_args_is_help=True)
devices_app = typer.Typer(help="IoT devices", no_args_is_help=True)
app.add_typer(devices_app, name="devices")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
import_app = typer.Typer(
    help="Reference data: ward boundaries, road networks", no_args_is_help=True
)
app.add_typer(import_app, name="import")


def _settings(data_dir: Path | None, database_url: str | None) -> Settings:
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if database_url is not None:
        overrides["database_url"] = database_url
    return Settings(**overrides)  # type: ignore[arg-type]


DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where SQLite and files live")]
DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="postgresql://… for server mode")
]


@app.command()
def migrate(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the database schema."""
    _, database = _open(data_dir, database_url)
    typer.echo(f"database ready: {database.dialect} ({_safe_url(database.url)})")
    database.dispose()


Scale = Annotated[float, typer.Option(help="Fleet size: 1 ≈ 500 devices, 250 ≈ 100,000")]
BackfillDays = Annotated[float, typer.Option(help="Days of history sent before going live")]
Speed = Annotated[
    float, typer.Option(help="Times real time while behind the clock (60: a day in 24 min)")
]
HoursAgo = Annotated[float, typer.Option(help="Start the live part this many hours ago")]
Seed = Annotated[int, typer.Option(help="Seed: the same seed gives the same city")]


@app.command()
def run(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Demo accounts and the simulated city")
    ] = True,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    scenario: Annotated[str, typer.Option(help="Simulator scenario (with --demo)")] = "normal",
    backfill_days: BackfillDays = 7.0,
    speed: Speed = 1.0,
    hours_ago: HoursAgo = 0.0,
    scale: Scale = 1.0,
    seed: Seed = 0,
) -> None:
    """Migrate, serve the platform and, with --demo, feed it the simulated Cần Thơ."""
    from smartcity.simulator.session import Plan

    plan = Plan(_scenario(scenario), backfill_days, speed, hours_ago, scale, seed)
    _serve(host, port, data_dir, database_url, workers, plan if demo else None)


@app.command("demo")
def demo_command(
    scenario: Annotated[
        str,
        typer.Option(
            help="normal, flood-tide, salinity-season, rush-hour-incident, lamp-failures, "
            "sensor-faults"
        ),
    ] = "normal",
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    data_dir: DataDir = None,
    backfill_days: BackfillDays = 2.0,
    speed: Speed = 60.0,
    hours_ago: HoursAgo = 12.0,
    seed: Seed = 0,
) -> None:
    """The platform with the simulated city staging a scenario (accelerated from the past)."""
    from smartcity.simulator.session import Plan

    plan = Plan(_scenario(scenario), backfill_days, speed, hours_ago, 1.0, seed)
    _serve(host, port, data_dir, None, 1, plan)


@app.command()
def simulate(
    url: Annotated[str, typer.Option(help="The platform, e.g. http://127.0.0.1:8000")],
    api_key: Annotated[
        str, typer.Option(envvar="SMARTCITY_SIMULATOR_KEY", help="An integrator API key")
    ],
    scenario: Annotated[str, typer.Option(help="Simulator scenario")] = "normal",
    backfill_days: BackfillDays = 0.0,
    speed: Speed = 1.0,
    hours_ago: HoursAgo = 0.0,
    scale: Scale = 1.0,
    seed: Seed = 0,
    workers: Annotated[int, typer.Option(help="Parallel requests")] = 4,
) -> None:
    """Feed a running platform (any URL) with the simulated city until interrupted."""
    import httpx

    from smartcity.simulator.session import Plan

    plan = Plan(_scenario(scenario), backfill_days, speed, hours_ago, scale, seed, workers)
    with httpx.Client(base_url=url, timeout=120) as client:
        _simulate_forever(plan, client, api_key)


def _scenario(name: str) -> ScenarioName:
    from smartcity.simulator.timebase import ScenarioName

    try:
        return ScenarioName(name)
    except ValueError:
        names = ", ".join(s.value for s in ScenarioName)
        typer.echo(f"error: unknown scenario {name!r}; choose one of {names}", err=True)
        raise typer.Exit(2) from None


def _serve(
    host: str,
    port: int,
    data_dir: Path | None,
    database_url: str | None,
    workers: int,
    plan: Plan | None,
) -> None:
    """Migrate, seed accounts, start the simulator beside the server, and serve."""
    import uvicorn

    settings, database = _open(data_dir, database_url)
    database.run_write(database.analyze)
    auth = _auth(settings, database)
    seed_departments(auth.service)
    purged = auth.audit.purge_before(_retention_cutoff(settings))
    logins = []
    key = None
    if plan is not None:
        logins = seed_demo_accounts(auth.service, settings.data_dir)
        key = _simulator_key(auth.service, settings.data_dir)
    database.dispose()
    typer.echo(f"Cần Thơ Smart City Platform on http://{host}:{port}  ({database.dialect})")
    typer.echo(f"  NGSI-LD: http://{host}:{port}/ngsi-ld/v1/entities   API docs: /docs")
    if purged:
        typer.echo(
            f"  audit: {purged} rows older than {settings.audit_retention_days} days removed"
        )
    _print_logins(logins)
    _export(settings)
    if plan is not None and key is not None:
        _simulator_thread(f"http://{_local(host)}:{port}", key, plan)
    uvicorn.run(
        "smartcity.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


def _local(host: str) -> str:
    """Where this machine reaches a server bound to `host`."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _simulator_key(service: AuthService, data_dir: Path) -> str:
    """The simulator's integrator key, kept (0600) in the data dir and reused while valid."""
    path = data_dir / "simulator.key"
    if path.exists():
        key = path.read_text().strip()
        try:
            service.principal_from_api_key(key)
            return key
        except AuthError:
            pass
    new = service.create_api_key("simulator (demo city)", "integrator")
    path.write_text(new.key + "\n")
    path.chmod(0o600)
    return new.key


def _simulator_thread(url: str, key: str, plan: Plan) -> None:
    """Run the simulator against the server about to start (a daemon thread)."""
    import threading

    import httpx

    from smartcity.simulator.session import wait_until_up

    def work() -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            if not wait_until_up(client):
                typer.echo("simulator: the platform did not come up; not simulating", err=True)
                return
            _simulate_forever(plan, client, key)

    threading.Thread(target=work, name="simulator", daemon=True).start()


def _simulate_forever(plan: Plan, client: httpx.Client, key: str) -> None:
    """Simulate with a progress bar over the backfill; report and stop on Ctrl-C."""
    import threading

    from tqdm import tqdm

    from smartcity.simulator.session import simulate

    stop = threading.Event()
    bar = tqdm(total=0, desc=f"simulator: {plan.backfill_days:g} days of history", unit="device")

    def progress(done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total)
        bar.update(done - bar.n)

    def live() -> None:
        bar.close()
        typer.echo(f"simulator: live ({plan.scenario.value}, ×{plan.speed:g} while behind)")

    try:
        simulate(plan, client, key, stop, progress, live)
    except KeyboardInterrupt:
        stop.set()
    except Exception as error:  # the platform must keep serving if the simulator fails
        typer.echo(f"simulator stopped: {error}", err=True)


@app.command()
def ingest(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    mqtt_url: Annotated[
        str | None, typer.Option(help="mqtt://host:port (default: SMARTCITY_MQTT_URL)")
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(help="Stable MQTT client id of this worker")
    ] = None,
    sweep: Annotated[
        bool, typer.Option("--sweep/--no-sweep", help="Also run the device health sweep")
    ] = False,
) -> None:
    """Run an MQTT ingest worker (no HTTP); start several to share the load."""
    import signal
    import threading

    from smartcity.core.context.service import ContextBroker
    from smartcity.core.events import EventBus
    from smartcity.core.ingest.runtime import IngestRuntime, build_ingest

    settings, database = _open(data_dir, database_url)
    updates: dict[str, object] = {}
    if mqtt_url:
        updates["mqtt_url"] = mqtt_url
    if client_id:
        updates["mqtt_client_id"] = client_id
    settings = settings.model_copy(update=updates)
    if not settings.mqtt_url:
        typer.echo("error: give --mqtt-url or set SMARTCITY_MQTT_URL", err=True)
        raise typer.Exit(2)
    state = build_ingest(settings, database, ContextBroker(database), EventBus())
    runtime = IngestRuntime(settings, state)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    runtime.start(sweep=sweep)
    typer.echo(
        f"ingest worker {settings.mqtt_client_id} on {settings.mqtt_url} ({database.dialect})"
    )
    stop.wait()
    runtime.stop()
    database.dispose()


@app.command()
def jobs(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Run the leader's work without HTTP: change feed, rules, notifications, scheduled jobs.

    Beside API workers started with SMARTCITY_LEAD=false, this gives the feed and the
    notifications a process (and a GIL) of their own. Several may run: one leads at a time.
    """
    import asyncio
    import signal

    from smartcity.app import create_app

    settings, database = _open(data_dir, database_url)
    settings = settings.model_copy(update={"lead": True})
    platform = create_app(settings, database=database)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with platform.router.lifespan_context(platform):
            typer.echo(f"jobs worker on {database.dialect}: leads when elected")
            await stop.wait()

    asyncio.run(serve())
    database.dispose()


@devices_app.command("import")
def devices_import(
    csv_file: Annotated[Path, typer.Argument(help="CSV with a device_id header (docs/ingest.md)")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Provision devices and their entities from a CSV file, all or nothing."""
    from smartcity.core.context.service import ContextBroker
    from smartcity.core.events import EventBus
    from smartcity.core.ingest.api import devices_from_csv
    from smartcity.core.ingest.errors import IotError
    from smartcity.core.ingest.runtime import build_ingest

    settings, database = _open(data_dir, database_url)
    state = build_ingest(settings, database, ContextBroker(database), EventBus())
    try:
        devices = devices_from_csv(csv_file.read_bytes())
        state.devices.create_devices(devices, "cli", lambda _type: True)
    except IotError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    typer.echo(f"{len(devices)} devices provisioned")


@import_app.command("boundaries")
def import_boundaries(
    geojson_file: Annotated[Path, typer.Argument(help="FeatureCollection, properties.code")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Give wards (and the city, code 92) their real boundaries from a GeoJSON file."""
    import orjson

    from smartcity.simulator.geography import boundary_updates, city_entity, ward_entity, wards

    try:
        geojson = orjson.loads(geojson_file.read_bytes())
    except (OSError, orjson.JSONDecodeError) as error:
        typer.echo(f"error: cannot read {geojson_file}: {error}", err=True)
        raise typer.Exit(1) from None
    fragments, problems = boundary_updates(geojson if isinstance(geojson, dict) else {})
    for problem in problems:
        typer.echo(f"skipped: {problem}", err=True)
    _, database = _open(data_dir, database_url)
    try:
        # Wards first (kept as they are if present), then their boundaries as the location.
        _write_entities(database, [city_entity(), *map(ward_entity, wards())], create_only=True)
        _write_entities(database, fragments, create_only=False)
    finally:
        database.dispose()
    typer.echo(f"{len(fragments)} boundaries imported, {len(problems)} features skipped")
    if not fragments:
        raise typer.Exit(1)


@import_app.command("osm")
def import_osm(
    osm_file: Annotated[Path, typer.Argument(help="OpenStreetMap XML (.osm or .osm.bz2)")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Import a road network from OpenStreetMap as RoadSegment entities."""
    from smartcity.simulator.roads import load_osm, segment_entity

    try:
        network = load_osm(osm_file)
    except (OSError, ValueError) as error:
        typer.echo(f"error: cannot read {osm_file}: {error}", err=True)
        raise typer.Exit(1) from None
    for problem in network.problems:
        typer.echo(f"note: {problem}", err=True)
    _, database = _open(data_dir, database_url)
    try:
        _write_entities(database, [segment_entity(s) for s in network.segments], False)
    finally:
        database.dispose()
    typer.echo(
        f"{len(network.segments)} road segments, {len(network.junctions)} junctions, "
        f"{network.total_length_km():.1f} km imported"
    )


def _write_entities(database: Database, bodies: list[dict[str, Any]], create_only: bool) -> None:
    """Create (or, unless create_only, update) entities given as normalized NGSI-LD bodies."""
    from smartcity.core.context import model
    from smartcity.core.context.jsonld import ContextResolver
    from smartcity.core.context.service import ContextBroker

    resolver = ContextResolver()
    now = now_us()
    items = []
    for body in bodies:
        ctx = resolver.resolve(body.get("@context"))
        items.append(
            model.parse_entity({k: v for k, v in body.items() if k != "@context"}, ctx, now)
        )
    broker = ContextBroker(database)
    if create_only:
        broker.batch_create(items)
    else:
        broker.batch_upsert(items, replace=False)


def _print_logins(logins: list[DemoLogin]) -> None:
    if not logins:
        typer.echo("  No demo logins. Create an admin: smartcity users create --role admin …")
        return
    typer.echo("  Demo logins (tài khoản demo; also in <data-dir>/demo-logins.txt):")
    for login in logins:
        where = f" [{', '.join(login.departments)}]" if login.departments else ""
        typer.echo(f"    {login.role:<10} {login.username:<20} {login.password}{where}")


def _auth(settings: Settings, database: Database) -> AuthState:
    from smartcity.app import build_auth_state

    return build_auth_state(settings, database)


def _retention_cutoff(settings: Settings) -> int:
    return now_us() - settings.audit_retention_days * 86_400 * 1_000_000


def _open(data_dir: Path | None, database_url: str | None) -> tuple[Settings, Database]:
    from smartcity.core.db import open_database
    from smartcity.core.migrate import upgrade

    settings = _settings(data_dir, database_url)
    database = open_database(settings.resolved_database_url())
    upgrade(database)
    return settings, database


def _fail(error: AuthError) -> NoReturn:
    typer.echo(f"error: {error.detail}", err=True)
    raise typer.Exit(code=2)


# --- users ---------------------------------------------------------------------------------


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Sign-in name")],
    role: Annotated[str, typer.Option(help="admin, operator, officer, citizen or integrator")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    department: Annotated[
        list[str] | None, typer.Option(help="Department code (officers; repeatable)")
    ] = None,
    full_name: Annotated[str | None, typer.Option(help="Display name")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a user account (prompts for the password when --password is not given)."""
    settings, database = _open(data_dir, database_url)
    service = _auth(settings, database).service
    seed_departments(service)
    try:
        user = service.create_user(username, password, role, department or (), full_name=full_name)
    except AuthError as error:
        _fail(error)
    finally:
        database.dispose()
    typer.echo(f"created {user.role} {user.username} (id {user.id})")


@users_app.command("list")
def users_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List user accounts."""
    settings, database = _open(data_dir, database_url)
    users = _auth(settings, database).service.list_users()
    database.dispose()
    for user in users:
        state = "active" if user.active else "inactive"
        departments = ",".join(user.departments) or "-"
        typer.echo(f"{user.id}\t{user.username}\t{user.role}\t{departments}\t{state}")


# --- API keys ------------------------------------------------------------------------------


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="What the key is for")],
    role: Annotated[str, typer.Option(help="integrator (devices, integrators)")] = "integrator",
    entity_type: Annotated[
        list[str] | None, typer.Option(help="Entity type the key may write (repeatable)")
    ] = None,
    device_group: Annotated[str | None, typer.Option(help="IoT device group")] = None,
    days: Annotated[int | None, typer.Option(help="Expires after this many days")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    settings, database = _open(data_dir, database_url)
    expires = now_us() + days * 86_400 * 1_000_000 if days else None
    try:
        new = _auth(settings, database).service.create_api_key(
            name, role, None, entity_type, device_group, expires
        )
    except AuthError as error:
        _fail(error)
    finally:
        database.dispose()
    typer.echo(f"key id {new.id}; the key (shown once, keep it safe):")
    typer.echo(new.key)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (not the key)")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke an API key at once."""
    settings, database = _open(data_dir, database_url)
    try:
        _auth(settings, database).service.revoke_api_key(key_id)
    except AuthError as error:
        _fail(error)
    finally:
        database.dispose()
    typer.echo(f"revoked {key_id}")


# --- audit ---------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Recompute the audit log's hash chain; exit 1 at the first altered row."""
    settings, database = _open(data_dir, database_url)
    check = _auth(settings, database).audit.verify()
    database.dispose()
    if not check.ok:
        typer.echo(f"audit chain BROKEN at row {check.first_bad_seq} ({check.rows} rows good)")
        raise typer.Exit(code=1)
    typer.echo(f"audit chain intact: {check.rows} rows")


@audit_app.command("purge")
def audit_purge(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Remove audit rows older than the retention period (SMARTCITY_AUDIT_RETENTION_DAYS)."""
    settings, database = _open(data_dir, database_url)
    removed = _auth(settings, database).audit.purge_before(_retention_cutoff(settings))
    database.dispose()
    typer.echo(f"removed {removed} rows older than {settings.audit_retention_days} days")


def _export(settings: Settings) -> None:
    """Pass CLI choices to the server process(es) through the environment."""
    import os

    os.environ["SMARTCITY_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        os.environ["SMARTCITY_DATABASE_URL"] = settings.database_url


def _safe_url(url: str) -> str:
    """Hide a password in a database URL."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


if __name__ == "__main__":
    app()
