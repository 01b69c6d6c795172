"""The `smartcity` command: run, migrate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from smartcity.config import Settings

app = typer.Typer(help="Cần Thơ Smart City Platform", no_args_is_help=True)


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
    from smartcity.core.db import open_database
    from smartcity.core.migrate import upgrade

    settings = _settings(data_dir, database_url)
    database = open_database(settings.resolved_database_url())
    upgrade(database)
    typer.echo(f"database ready: {database.dialect} ({_safe_url(database.url)})")
    database.dispose()


@app.command()
def run(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    demo: Annotated[bool, typer.Option("--demo/--no-demo", help="Seed demo data")] = True,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Migrate, optionally seed the demo city, and serve the platform."""
    import uvicorn

    from smartcity.core.db import open_database
    from smartcity.core.migrate import upgrade

    settings = _settings(data_dir, database_url)
    database = open_database(settings.resolved_database_url())
    upgrade(database)
    database.run_write(database.analyze)
    if demo:
        from smartcity.demo import seed_demo

        count = seed_demo(database)
        typer.echo(f"demo: {count} Cần Thơ entities seeded")
    database.dispose()
    typer.echo(f"Cần Thơ Smart City Platform on http://{host}:{port}  ({database.dialect})")
    typer.echo(f"  NGSI-LD: http://{host}:{port}/ngsi-ld/v1/entities   API docs: /docs")
    # Accounts arrive with the accounts issue; until then say plainly that nothing is locked.
    typer.echo("  Demo logins: none yet; the API is open, so keep it on a trusted network.")
    _export(settings)
    uvicorn.run(
        "smartcity.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


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
