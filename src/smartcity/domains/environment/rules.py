"""The environment domain's default alert rules (installed with source "domain")."""

from __future__ import annotations

from typing import Any

#: Every default rule; an operator may edit or disable them through /api/rules.
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {
        "id": "env-tide-bd3",
        "name": "Mực nước trạm Cần Thơ vượt báo động III (2,00 m)",
        "entity_type": "WaterObserved",
        "id_pattern": "urn:ngsi-ld:WaterObserved:can-tho",
        "condition": {"threshold": {"attribute": "height", "op": ">=", "value": 2.0,
                                    "clear": 1.95}},
        "severity": "high",
        "category": "flood",
        "department": "SNNMT",
        "incident_type": "street-flooding-high-tide",
    },
    {
        "id": "env-tide-forecast-bd3",
        "name": "Dự báo đỉnh triều vượt báo động III trong 24 giờ tới",
        "entity_type": "WaterObserved",
        "condition": {"threshold": {"attribute": "forecastAlarmLevel", "op": ">=", "value": 3,
                                    "clear": 2}},
        "severity": "medium",
        "category": "flood",
        "department": "SNNMT",
        "incident_type": "street-flooding-high-tide",
    },
    {
        "id": "env-intake-salinity",
        "name": "Độ mặn tại cửa lấy nước vượt ngưỡng",
        "entity_type": "SluiceGate",
        "condition": {"threshold": {"attribute": "upstreamSalinity", "op": ">", "value": 0.45,
                                    "clear": 0.35, "for": 900}},
        "severity": "high",
        "category": "environment",
        "department": "SNNMT",
        "incident_type": "salinity-intrusion-intake",
    },
    {
        "id": "env-aqi-bad",
        "name": "Chất lượng không khí xấu (VN_AQI trên 200)",
        "entity_type": "AirQualityObserved",
        "condition": {"threshold": {"attribute": "airQualityIndex", "op": ">", "value": 200,
                                    "clear": 150}},
        "severity": "medium",
        "category": "environment",
        "department": "SNNMT",
    },
    {
        "id": "env-wqi-poor",
        "name": "Chất lượng nước sông kém (VN_WQI dưới 26)",
        "entity_type": "WaterQualityObserved",
        "condition": {"threshold": {"attribute": "waterQualityIndex", "op": "<", "value": 26,
                                    "clear": 30}},
        "severity": "medium",
        "category": "environment",
        "department": "SNNMT",
    },
    *(
        {
            "id": f"env-data-quality-{kind.lower()}",
            "name": f"Trạm quan trắc có dữ liệu bất thường ({kind})",
            "entity_type": kind,
            "condition": {"threshold": {"attribute": "dataQualityFlags", "op": ">", "value": 0,
                                        "clear": 0}},
            "severity": "low",
            "category": "maintenance",
            "department": "SNNMT",
        }
        for kind in ("AirQualityObserved", "WaterObserved", "FloodMonitoring",
                     "WaterQualityObserved")
    ),
)  # fmt: skip
