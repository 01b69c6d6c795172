"""Test servers: where PostgreSQL is, scratch databases on it, the loud-skip rule, and the
platform itself as `make run` starts it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get(
    "SMARTCITY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_SERVERS = os.environ.get("SMARTCITY_REQUIRE_SERVERS") == "1"


def server_missing(message: str) -> None:
    """Skip loudly on a user's machine; fail in CI, where servers are mandatory."""
    if REQUIRE_SERVERS:
        pytest.fail(f"SMARTCITY_REQUIRE_SERVERS=1 but {message}")
    print(f"\n!!! {message}; test skipped !!!")
    pytest.skip(message)


@contextmanager
def scratch_pg_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (its SQLAlchemy URL), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as error:
        admin.dispose()
        server_missing(f"PostgreSQL not reachable ({error.__class__.__name__}: {error})")
    try:
        yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


MQTT_HOST = os.environ.get("SMARTCITY_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("SMARTCITY_TEST_MQTT_PORT", "1883"))


def require_mqtt_broker() -> str:
    """The test broker's mqtt:// URL; skip loudly (fail in CI) when nothing listens there."""
    import socket

    try:
        with socket.create_connection((MQTT_HOST, MQTT_PORT), timeout=2):
            pass
    except OSError as error:
        server_missing(f"MQTT broker not reachable at {MQTT_HOST}:{MQTT_PORT} ({error})")
    return f"mqtt://{MQTT_HOST}:{MQTT_PORT}"


NATS_HOST = os.environ.get("SMARTCITY_TEST_NATS_HOST", "127.0.0.1")
NATS_PORT = int(os.environ.get("SMARTCITY_TEST_NATS_PORT", "4222"))


def require_nats() -> str:
    """The test NATS server's nats:// URL; skip loudly (fail in CI) when nothing listens there."""
    import socket

    try:
        with socket.create_connection((NATS_HOST, NATS_PORT), timeout=2):
            pass
    except OSError as error:
        server_missing(f"NATS server not reachable at {NATS_HOST}:{NATS_PORT} ({error})")
    return f"nats://{NATS_HOST}:{NATS_PORT}"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningPlatform:
    """A `smartcity run` subprocess (what `make run` starts) and everything it printed."""

    url: str
    data_dir: Path
    lines: list[str]

    @property
    def output(self) -> str:
        """All it printed so far."""
        return "".join(self.lines)


@contextmanager
def smartcity_run(
    data_dir: Path, backfill_days: float, timeout_s: float = 300.0
) -> Iterator[RunningPlatform]:
    """`smartcity run` on a free port with the simulator, once it says the city is live."""
    port = free_port()
    command = [sys.executable, "-m", "smartcity.cli", "run", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--backfill-days", str(backfill_days)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(server.stdout or []), daemon=True).start()
    try:
        deadline = time.monotonic() + timeout_s
        while not any("simulator: live" in line for line in lines):
            assert server.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.5)
        yield RunningPlatform(f"http://127.0.0.1:{port}", data_dir, lines)
    finally:
        server.terminate()
        server.wait(timeout=30)
