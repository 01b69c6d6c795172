"""Server mode: two `smartcity run` processes on one PostgreSQL database and one NATS server.

Writes go to the process that does not lead; the rule still fires (on the leader), the alert
reaches the other process's server-sent event stream (through NATS), the NGSI-LD
subscription's webhook is called once, escalation (a leader job) happens exactly once, and
when the leader is killed the other process takes over.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smartcity.app import create_app
from smartcity.config import Settings
from smartcity.core.db import open_database
from smartcity.core.migrate import upgrade
from tests.core.context.test_subscriptions import Receiver
from tests.servers import require_nats, scratch_pg_database

from .support import free_port, sse_events, wait_for

pytestmark = [pytest.mark.server]

RULE = {
    "id": "tide-bd3",
    "name": "Báo động III trạm Cần Thơ",
    "entity_type": "WaterObserved",
    "condition": {"threshold": {"attribute": "waterLevel", "op": ">=", "value": 2.0}},
    "severity": "high",
    "category": "flood",
    "department": "SNNMT",
    "escalation": [{"after": 1, "department": "VPUB"}],
}


class Platform:
    """One `smartcity run` process."""

    def __init__(
        self,
        url: str | None,
        data_dir: Path,
        env: dict[str, str],
        command: str = "run",
        log_name: str = "platform.log",
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "SMARTCITY_FEED_POLL_S": "0.1",
            "SMARTCITY_LEADER_RETRY_S": "0.3",
            "SMARTCITY_ALERT_SWEEP_S": "0.2",
            **env,
        }
        args = [sys.executable, "-m", "smartcity.cli", command, "--data-dir", str(data_dir)]
        if command == "run":
            args += ["--no-demo", "--port", str(self.port)]
        if url:
            args += ["--database-url", url]
        self.log = data_dir / log_name
        self.process = subprocess.Popen(
            args, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT
        )
        if command == "run":
            wait_for(self.healthy, timeout_s=60)

    def healthy(self) -> bool:
        """Whether it answers /healthz."""
        if self.process.poll() is not None:
            raise AssertionError(f"platform exited: {self.log.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def leads(self) -> bool:
        """Whether it is the leader now."""
        return bool(httpx.get(f"{self.base}/healthz", timeout=2).json()["leader"])

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the process."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Platform, Platform, str]]:
    """Two platform processes sharing a scratch database and NATS; an operator key."""
    nats = require_nats()
    with scratch_pg_database("smartcity_cluster") as url:
        database = open_database(url)
        upgrade(database)
        app = create_app(Settings(data_dir=tmp_path), database=database)
        key = app.state.auth.service.create_api_key("ioc wall", "operator").key
        database.dispose()
        stream = f"SMARTCITY_TEST_{os.getpid()}_{free_port()}"
        platforms: list[Platform] = []
        try:
            for name in ("a", "b"):
                (tmp_path / name).mkdir()
                env = {
                    "SMARTCITY_NATS_URL": nats,
                    "SMARTCITY_NATS_STREAM": stream,
                    "SMARTCITY_NATS_SUBJECT_PREFIX": stream.lower().replace("_", "-"),
                }
                platforms.append(Platform(url, tmp_path / name, env))
            yield platforms[0], platforms[1], key
        finally:
            for platform in platforms:
                platform.stop(signal.SIGKILL)
            _delete_stream(nats, stream)


@pytest.mark.postgres
def test_two_processes_share_rules_events_and_one_leader(
    cluster: tuple[Platform, Platform, str],
) -> None:
    first, second, key = cluster
    headers = {"X-API-Key": key}
    wait_for(lambda: first.leads() or second.leads(), timeout_s=20)
    assert first.leads() != second.leads(), "exactly one leader"
    leader, follower = (first, second) if first.leads() else (second, first)

    assert httpx.post(f"{leader.base}/api/rules", json=RULE, headers=headers).status_code == 201
    webhook = Receiver()
    subscription = {
        "type": "Subscription",
        "entities": [{"type": "WaterObserved"}],
        "watchedAttributes": ["waterLevel"],
        "notification": {"endpoint": {"uri": webhook.url}, "format": "keyValues"},
    }
    made = httpx.post(
        f"{follower.base}/ngsi-ld/v1/subscriptions", json=subscription, headers=headers
    )
    assert made.status_code == 201, made.text
    stream: dict[str, Any] = {}
    reader = threading.Thread(target=_read_stream, args=(follower.base, headers, stream))
    reader.start()
    time.sleep(1.0)  # the stream is listening and the rule is loaded

    gauge = {
        "id": "urn:ngsi-ld:WaterObserved:can-tho",
        "type": "WaterObserved",
        "waterLevel": {"type": "Property", "value": 2.06},
    }
    written = httpx.post(f"{follower.base}/ngsi-ld/v1/entities", json=gauge, headers=headers)
    assert written.status_code == 201, written.text

    alerts = wait_for(lambda: _alerts(follower, headers), timeout_s=15)
    assert [a["subject_id"] for a in alerts] == [gauge["id"]]
    escalated = wait_for(
        lambda: [a for a in _alerts(follower, headers) if a["escalation_level"] == 1], 15
    )[0]
    time.sleep(1.5)  # further sweeps on either process must not escalate it again
    detail = httpx.get(f"{first.base}/api/alerts/{escalated['id']}", headers=headers).json()
    assert [e["kind"] for e in detail["timeline"]].count("escalated") == 1
    try:
        notified = wait_for(lambda: webhook.received, 15)
    except AssertionError:
        subs = httpx.get(f"{first.base}/ngsi-ld/v1/subscriptions", headers=headers).json()
        raise AssertionError(f"no notification; subscriptions: {subs}") from None
    assert len(notified) == 1  # one notification although two processes run
    reader.join(20)
    events = sse_events(stream["body"])
    assert "alert.opened" in events and "alert.escalated" in events

    leader.stop(signal.SIGKILL)
    wait_for(follower.leads, timeout_s=30)
    second_gauge = {**gauge, "id": "urn:ngsi-ld:WaterObserved:cai-rang"}
    made = httpx.post(f"{follower.base}/ngsi-ld/v1/entities", json=second_gauge, headers=headers)
    assert made.status_code == 201
    wait_for(lambda: len(_alerts(follower, headers)) == 2, timeout_s=15)
    webhook.close()


def _alerts(platform: Platform, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = httpx.get(f"{platform.base}/api/alerts", headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    alerts: list[dict[str, Any]] = response.json()
    return alerts


def _read_stream(base: str, headers: dict[str, str], out: dict[str, Any]) -> None:
    response = httpx.get(f"{base}/api/alerts/stream?timeout=8", headers=headers, timeout=30)
    out["body"] = response.text


def _delete_stream(url: str, stream: str) -> None:
    import asyncio

    import nats

    async def delete() -> None:
        client = await nats.connect(url)
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await client.jetstream().delete_stream(stream)
        await client.close()

    asyncio.run(delete())


def test_api_workers_that_never_lead_beside_a_jobs_process(tmp_path: Path) -> None:
    """SQLite: an API process with SMARTCITY_LEAD=false and `smartcity jobs` doing the rest."""
    database = open_database(f"sqlite:///{tmp_path}/smartcity.db")
    upgrade(database)
    app = create_app(Settings(data_dir=tmp_path), database=database)
    key = app.state.auth.service.create_api_key("ioc wall", "operator").key
    database.dispose()
    headers = {"X-API-Key": key}
    api = Platform(None, tmp_path, {"SMARTCITY_LEAD": "false"})
    jobs = Platform(None, tmp_path, {}, command="jobs", log_name="jobs.log")
    try:
        assert not api.leads()
        assert httpx.post(f"{api.base}/api/rules", json=RULE, headers=headers).status_code == 201
        time.sleep(2.5)  # the jobs process reloads rules every 2 s
        gauge = {
            "id": "urn:ngsi-ld:WaterObserved:can-tho",
            "type": "WaterObserved",
            "waterLevel": {"type": "Property", "value": 2.2},
        }
        made = httpx.post(f"{api.base}/ngsi-ld/v1/entities", json=gauge, headers=headers)
        assert made.status_code == 201
        [alert] = wait_for(lambda: _alerts(api, headers), timeout_s=20)
        assert alert["subject_id"] == gauge["id"]
        wait_for(lambda: _alerts(api, headers)[0]["escalation_level"] == 1, timeout_s=20)
        assert not api.leads()
    finally:
        jobs.stop()
        api.stop()
        assert jobs.process.returncode == 0, jobs.log.read_text()[-2000:]
