"""Interoperability: ngsildclient (a third-party NGSI-LD client) against the real server.

The platform is started as a subprocess (`smartcity run`) on SQLite and on PostgreSQL, and
`ngsildclient_script.py` drives it from the separate `.venv-ngsildclient` environment (the
client pins old httpx/isodate versions, so it cannot live in the platform's venv).

Writes to the NGSI-LD API need credentials, so before the server starts an integrator API key
is created with the CLI (`smartcity keys create`) on the same database, and the script sends it
as `X-API-Key` on every request. The test also proves that the server is locked: a write
without a key, or with a wrong one, is refused with 401 and leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.servers import scratch_pg_database, server_missing

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("ngsildclient_script.py")
SMARTCITY = Path(sys.prefix) / "bin" / "smartcity"  # the venv running pytest: .venv
NGSILD_PYTHON = ROOT / ".venv-ngsildclient" / "bin" / "python"
API_KEY_ENV = "NGSILD_API_KEY"  # read by ngsildclient_script.py

STARTUP_TIMEOUT_S = 60.0
CLI_TIMEOUT_S = 60.0
SCRIPT_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, chars: int = 6000) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        return f"(cannot read {path}: {error})"
    return text[-chars:] or "(empty)"


@dataclass
class Server:
    """A running `smartcity run` subprocess."""

    host: str
    port: int
    backend: str
    log: Path
    api_key: str = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture
def ngsild_python() -> Path:
    if not NGSILD_PYTHON.exists():
        server_missing(f"{NGSILD_PYTHON.relative_to(ROOT)} not found (make the ngsildclient venv)")
    return NGSILD_PYTHON


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one server, dropped afterwards."""
    with scratch_pg_database("smartcity_interop") as url:
        yield sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """The real platform server in a subprocess, always stopped afterwards."""
    backend: str = request.param
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    port = free_port()
    # The same database options for the key and for the server that must accept it.
    where = ["--data-dir", str(data_dir)]
    if backend == "postgresql":
        where += ["--database-url", request.getfixturevalue("postgres_url")]
    command = [str(SMARTCITY), "run", "--no-demo", "--host", "127.0.0.1", "--port", str(port)]
    command += where
    # Only the command line configures this server: no SMARTCITY_* from the environment, and
    # tmp_path as working directory so that no stray .env is read.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")}
    env["PYTHONUNBUFFERED"] = "1"
    api_key = _create_api_key(where, env, tmp_path)
    log = tmp_path / "server.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        running = Server("127.0.0.1", port, backend, log, api_key)
        _wait_healthy(process, running)
        yield running
    finally:
        _stop(process)


def _create_api_key(where: list[str], env: dict[str, str], cwd: Path) -> str:
    """An integrator key made with `smartcity keys create`, which prints it on its last line."""
    command = [str(SMARTCITY), "keys", "create", "--name", "interop", *where]
    result = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=CLI_TIMEOUT_S,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        pytest.fail(
            f"smartcity keys create exited with {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    key = lines[-1].strip()
    assert key.startswith("sck_") and " " not in key, f"no API key on the last line: {lines}"
    return key


def _wait_healthy(process: subprocess.Popen[bytes], server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"server exited with {process.returncode} before answering /healthz\n"
                f"--- server log ---\n{_tail(server.log)}"
            )
        try:
            response = httpx.get(f"{server.url}/healthz", timeout=2.0)
            if response.status_code == 200:
                backend = response.json().get("backend")
                assert backend == server.backend, (
                    f"server runs on {backend!r}, not {server.backend}"
                )
                return
            last_error = f"HTTP {response.status_code}: {response.text[:200]}"
        except httpx.HTTPError as error:
            last_error = f"{error.__class__.__name__}: {error}"
        time.sleep(0.2)
    pytest.fail(
        f"server not healthy after {STARTUP_TIMEOUT_S:.0f}s ({last_error})\n"
        f"--- server log ---\n{_tail(server.log)}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


def _assert_locked(server: Server) -> None:
    """Writes without a valid key are refused with 401 and create nothing."""
    entity_id = f"urn:ngsi-ld:AirQualityObserved:CanTho:Locked:{uuid.uuid4().hex[:8]}"
    entity = {
        "id": entity_id,
        "type": "AirQualityObserved",
        "pm25": {"type": "Property", "value": 99.0},
    }
    url = f"{server.url}/ngsi-ld/v1/entities"
    attempts = {"no key": {}, "a wrong key": {"X-API-Key": "sck_" + "x" * 40}}
    with httpx.Client(timeout=10.0) as http:
        for what, headers in attempts.items():
            response = http.post(url, json=entity, headers=headers)
            assert response.status_code == 401, (
                f"a write with {what} answered {response.status_code}, expected 401: "
                f"{response.text[:300]}\n--- server log ---\n{_tail(server.log)}"
            )
        check = http.get(f"{url}/{entity_id}", headers={"X-API-Key": server.api_key})
        assert check.status_code == 404, f"a refused write left {entity_id}: {check.text[:300]}"


@pytest.mark.server
def test_ngsildclient_round_trip(ngsild_python: Path, server: Server) -> None:
    """Create, read, query, count, update, upsert and delete with ngsildclient."""
    _assert_locked(server)
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env["PYTHONIOENCODING"] = "utf-8"
    # The key goes through the environment, not the command line (visible to `ps`).
    env[API_KEY_ENV] = server.api_key
    try:
        result = subprocess.run(
            [str(ngsild_python), str(SCRIPT), server.host, str(server.port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=SCRIPT_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(
            f"ngsildclient script still running after {SCRIPT_TIMEOUT_S:.0f}s\n"
            f"--- stdout ---\n{error.stdout}\n--- stderr ---\n{error.stderr}\n"
            f"--- server log ---\n{_tail(server.log)}"
        )
    report = (
        f"ngsildclient script exited with {result.returncode} ({server.backend})\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}\n"
        f"--- server log ---\n{_tail(server.log)}"
    )
    assert result.returncode == 0, report
    lines = result.stdout.strip().splitlines()
    summary = json.loads(lines[-1]) if lines else {}
    assert summary.get("ok") is True, report
    assert "gone" in summary.get("steps_passed", []), report
    assert summary.get("requests_without_key") == 0, report
