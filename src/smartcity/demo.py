"""A few Cần Thơ entities so that a new install is not empty (until the simulator lands)."""

from __future__ import annotations

from typing import Any

from smartcity.core.context import model
from smartcity.core.context.jsonld import ContextResolver
from smartcity.core.context.service import ContextBroker
from smartcity.core.context.times import format_us, now_us
from smartcity.core.db import Database

SMART_DATA_MODELS = "https://uri.etsi.org/ngsi-ld/default-context/"

# (id suffix, type, lon, lat, attributes) at real Cần Thơ places.
DEMO_ENTITIES: list[tuple[str, str, float, float, dict[str, Any]]] = [
    (
        "AirQualityObserved:ninh-kieu-wharf",
        "AirQualityObserved",
        105.7880,
        10.0340,
        {"pm25": 28.4, "pm10": 51.0, "no2": 31.2, "o3": 62.0, "name": "Bến Ninh Kiều"},
    ),
    (
        "AirQualityObserved:cai-rang",
        "AirQualityObserved",
        105.7521,
        9.9990,
        {"pm25": 19.7, "pm10": 38.5, "no2": 18.4, "o3": 55.1, "name": "Chợ nổi Cái Răng"},
    ),
    (
        "WaterQualityObserved:hau-river-can-tho",
        "WaterQualityObserved",
        105.7920,
        10.0420,
        {"pH": 7.1, "dissolvedOxygen": 5.6, "temperature": 29.3, "name": "Sông Hậu – trạm Cần Thơ"},
    ),
    (
        "WaterLevelObserved:can-tho-station",
        "WaterLevelObserved",
        105.7900,
        10.0380,
        {"waterLevel": 1.62, "name": "Trạm thủy văn Cần Thơ"},
    ),
    (
        "TrafficFlowObserved:30-4-street",
        "TrafficFlowObserved",
        105.7760,
        10.0270,
        {"intensity": 412, "averageVehicleSpeed": 27.5, "occupancy": 0.34, "name": "Đường 30/4"},
    ),
    (
        "TrafficFlowObserved:can-tho-bridge",
        "TrafficFlowObserved",
        105.7580,
        10.0295,
        {"intensity": 655, "averageVehicleSpeed": 48.0, "occupancy": 0.21, "name": "Cầu Cần Thơ"},
    ),
    (
        "Streetlight:hai-ba-trung-001",
        "Streetlight",
        105.7870,
        10.0330,
        {"powerState": "on", "dimmingLevel": 70, "name": "Đèn đường Hai Bà Trưng 001"},
    ),
    (
        "PointOfInterest:can-tho-airport",
        "PointOfInterest",
        105.7119,
        10.0851,
        {"name": "Cảng hàng không quốc tế Cần Thơ"},
    ),
]


def demo_payloads() -> list[dict[str, Any]]:
    """The demo entities as NGSI-LD concise payloads, observed now."""
    observed = format_us(now_us())
    payloads = []
    for suffix, entity_type, lon, lat, values in DEMO_ENTITIES:
        body: dict[str, Any] = {
            "id": f"urn:ngsi-ld:{suffix}",
            "type": entity_type,
            "location": {"type": "Point", "coordinates": [lon, lat]},
        }
        for name, value in values.items():
            body[name] = (
                value if isinstance(value, str) else {"value": value, "observedAt": observed}
            )
        payloads.append(body)
    return payloads


def seed_demo(database: Database) -> int:
    """Upsert the demo entities; return how many."""
    ctx = ContextResolver().resolve(None)
    now = now_us()
    items = [model.parse_entity(body, ctx, now) for body in demo_payloads()]
    result, _ = ContextBroker(database).batch_upsert(items, replace=False)
    return len(result.success)
