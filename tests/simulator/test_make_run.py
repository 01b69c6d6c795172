"""`smartcity run` (what `make run` calls): the platform comes up with the simulated city
feeding it, and every kind of entity is there with a history."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from smartcity.simulator.fleet import build_fleet


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_run_serves_the_simulated_city_with_history(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "smartcity.cli", "run", "--port", str(port)]
    command += ["--data-dir", str(tmp_path), "--backfill-days", "1"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(server.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 300
        while not any("simulator: live" in line for line in lines):
            assert server.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.5)
        output = "".join(lines)
        assert f"http://127.0.0.1:{port}" in output and "operator" in output
        key = (tmp_path / "simulator.key").read_text().strip()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}) as c:
            fleet = build_fleet()  # the same seed as the server's simulator: the same ids
            for group in fleet.groups:
                device = next(d for d in fleet.devices if d.group is group)
                attr = group.attributes[0].name
                past = c.get(
                    f"/ngsi-ld/v1/temporal/entities/{device.entity_id}",
                    params={"attrs": attr, "options": "temporalValues", "lastN": 100},
                )
                assert past.status_code == 200, past.text
                # A day of history: every kind reports at least hourly, parcels once a day.
                enough = 1 if group.kind == "agri-parcel" else 12
                assert len(past.json()[attr]["values"]) >= enough, group.kind
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_run_without_backfill_still_says_it_is_live(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "smartcity.cli", "run", "--port", str(port)]
    command += ["--data-dir", str(tmp_path), "--backfill-days", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(server.stdout or []), daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        while not any("simulator: live" in line for line in lines):
            assert server.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)
