"""`smartcity run` (what `make run` calls): the platform comes up with the simulated city
feeding it, and every kind of entity is there with a history."""

from __future__ import annotations

from pathlib import Path

import httpx

from smartcity.simulator.fleet import build_fleet
from tests.servers import smartcity_run


def test_run_serves_the_simulated_city_with_history(tmp_path: Path) -> None:
    with smartcity_run(tmp_path, backfill_days=1) as platform:
        assert platform.url in platform.output and "operator" in platform.output
        key = (tmp_path / "simulator.key").read_text().strip()
        with httpx.Client(base_url=platform.url, headers={"X-API-Key": key}) as c:
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


def test_run_without_backfill_still_says_it_is_live(tmp_path: Path) -> None:
    with smartcity_run(tmp_path, backfill_days=0, timeout_s=120) as platform:
        assert "simulator: live" in platform.output
