"""Reliability on the real broker: a worker killed mid-stream loses and doubles nothing;
a store slower than the stream keeps memory bounded and loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from smartcity.app import create_app
from smartcity.config import Settings
from smartcity.core.context.service import ContextBroker
from smartcity.core.context.times import format_us
from smartcity.core.db import Database
from smartcity.core.events import EventBus
from smartcity.core.ingest import pipeline
from smartcity.core.ingest.runtime import build_ingest
from smartcity.core.ingest.schemas import DeviceIn, GroupIn
from tests.core.ingest.mqtt_support import Device, unique, wait_for
from tests.servers import require_mqtt_broker

DEVICES = 10
T0 = 1_795_000_000_000_000  # 2026-11-18T…, µs: one distinct TimeInstant per message


def provision(database: Database, apikey: str, settings: Settings) -> list[str]:
    """A group and DEVICES devices whose `seq` attribute is a Number."""
    state = build_ingest(settings, database, ContextBroker(database), EventBus())
    group = GroupIn(
        apikey=apikey,
        entity_type="CrashProbe",
        attributes=[{"object_id": "seq", "name": "seq", "type": "Number"}],
    )
    state.devices.create_groups([group], "test", lambda _t: True)
    ids = [f"{apikey}-dev{n}" for n in range(DEVICES)]
    state.devices.create_devices(
        [DeviceIn(device_id=i, apikey=apikey) for i in ids], "test", lambda _t: True
    )
    return ids


def stored_rows(database: Database) -> list[tuple[str, int, float]]:
    """Every history row of the probe devices: (entity, observed_at, value)."""
    with database.read() as conn:
        rows = conn.execute(
            text(
                "SELECT entity_id, observed_at, value_num FROM attr_history"
                " WHERE entity_type LIKE '%CrashProbe' AND attr LIKE '%seq'"
            )
        )
        return [(r[0], r[1], r[2]) for r in rows]


def start_worker(
    database: Database, settings: Settings, tmp_path: Path, log: str
) -> subprocess.Popen[bytes]:
    """`smartcity ingest` in its own process, small batches so a kill lands mid-stream."""
    env = {
        **os.environ,
        "SMARTCITY_MQTT_SHARE_GROUP": settings.mqtt_share_group,
        "SMARTCITY_MQTT_SESSION_EXPIRY_S": "120",
        "SMARTCITY_INGEST_BATCH_MAX": "5",
    }
    command = [
        sys.executable,
        "-c",
        "from smartcity.cli import app; app()",
        "ingest",
        "--database-url",
        database.url,
        "--data-dir",
        str(tmp_path),
        "--mqtt-url",
        str(settings.mqtt_url),
        "--client-id",
        settings.mqtt_client_id,
    ]
    return subprocess.Popen(
        command, env=env, stdout=open(tmp_path / log, "wb"), stderr=subprocess.STDOUT
    )


@pytest.fixture
def crash_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        mqtt_url=require_mqtt_broker(),
        mqtt_client_id=unique("crash-"),
        mqtt_share_group=unique("g"),
    )


def test_killed_worker_loses_and_doubles_nothing(
    database: Database, crash_settings: Settings, tmp_path: Path
) -> None:
    apikey = unique("crash")
    devices = provision(database, apikey, crash_settings)
    worker = start_worker(database, crash_settings, tmp_path, "worker1.log")
    publisher = Device()
    try:
        # Warm-up: the worker's session and subscription exist once this is stored.
        warm = {"seq": -1, "TimeInstant": format_us(T0 - 1_000_000)}
        wait_for(
            lambda: _publish_until_stored(publisher, apikey, devices[0], warm, database),
            timeout_s=30,
            what="the worker to subscribe",
        )
        total = 1200
        acked: list[tuple[str, int]] = []
        stream = threading.Thread(target=_stream, args=(publisher, apikey, devices, total, acked))
        stream.start()
        wait_for(lambda: len(stored_rows(database)) >= 300, what="the stream to be mid-way")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        stored_at_kill = len(stored_rows(database))
        time.sleep(0.5)
        worker = start_worker(database, crash_settings, tmp_path, "worker2.log")
        stream.join(60)
        assert len(acked) == total, "the broker did not acknowledge every publish"
        assert stored_at_kill < total, "the kill came after the stream ended"
        try:
            wait_for(
                lambda: len(stored_rows(database)) >= total + 1,
                timeout_s=90,
                what="every acknowledged message to be stored",
            )
        except AssertionError as error:
            stored = {at for _, at, _ in stored_rows(database)}
            missing = [n for _, n in acked if T0 + n * 1000 not in stored]
            logs = "".join((tmp_path / f"worker{n}.log").read_text() for n in (1, 2))
            raise AssertionError(
                f"{error}: stored at kill {stored_at_kill}, missing {len(missing)} "
                f"(first {missing[:10]}); worker logs:\n{logs[-3000:]}"
            ) from None
        time.sleep(1.0)  # anything stored twice would show up now
        rows = [(entity, at) for entity, at, _ in stored_rows(database) if at >= T0]
        assert len(rows) == len(set(rows)) == total
        expected = {(f"urn:ngsi-ld:CrashProbe:{d}", T0 + n * 1000) for d, n in acked}
        assert set(rows) == expected
    finally:
        worker.kill()
        worker.wait(10)
        publisher.close()


def _publish_until_stored(
    device: Device, apikey: str, device_id: str, payload: dict, database: Database
) -> bool:
    device.publish(f"/json/{apikey}/{device_id}/attrs", orjson.dumps(payload))
    time.sleep(0.3)
    return bool(stored_rows(database))


def _stream(
    device: Device, apikey: str, devices: list[str], total: int, acked: list[tuple[str, int]]
) -> None:
    """Publish `total` QoS 1 messages as fast as the broker acks them, noting each one."""
    for n in range(total):
        device_id = devices[n % len(devices)]
        payload = orjson.dumps({"seq": n, "TimeInstant": format_us(T0 + n * 1000)})
        info = device.client.publish(f"/json/{apikey}/{device_id}/attrs", payload, qos=1)
        info.wait_for_publish(10)
        if info.is_published():
            acked.append((device_id, n))


@pytest.fixture
def slow_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each batch write takes 20 ms longer: the store is slower than the stream."""
    real = pipeline.record_observations

    def slow(*args: object, **kwargs: object) -> object:
        time.sleep(0.02)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "record_observations", slow)
    yield


def test_a_slow_store_keeps_memory_bounded_and_loses_nothing(
    database: Database, tmp_path: Path, slow_store: None
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        mqtt_url=require_mqtt_broker(),
        mqtt_client_id=unique("bp-"),
        mqtt_share_group=unique("g"),
        mqtt_session_expiry_s=30,
        mqtt_receive_maximum=50,
        ingest_max_pending=20,
        ingest_batch_max=5,
    )
    apikey = unique("bp")
    devices = provision(database, apikey, settings)
    app = create_app(settings, database=database)
    ingestor = app.state.ingest.ingestor
    with TestClient(app):
        wait_for(lambda: app.state.ingest_runtime.mqtt.connected.is_set(), what="MQTT")
        peak = [0]
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                peak[0] = max(peak[0], len(ingestor._queue))
                time.sleep(0.001)

        sampler = threading.Thread(target=sample)
        sampler.start()
        publisher = Device()
        total = 600
        for n in range(total):
            payload = orjson.dumps({"seq": n, "TimeInstant": format_us(T0 + n * 1000)})
            publisher.client.publish(f"/json/{apikey}/{devices[n % DEVICES]}/attrs", payload, qos=1)
        publisher.client.publish(
            f"/json/{apikey}/{devices[0]}/attrs", b"{}", qos=1
        ).wait_for_publish(10)
        try:
            wait_for(
                lambda: len(stored_rows(database)) >= total,
                timeout_s=60,
                what="the backlog to drain",
            )
        finally:
            sampling.set()
            sampler.join()
            publisher.close()
    assert len(stored_rows(database)) == total
    assert 0 < peak[0] <= settings.ingest_max_pending
