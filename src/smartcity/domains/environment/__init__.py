"""Environment: air and river quality, river levels and street flooding, salinity, gates."""

from smartcity.core.registry import Domain, Kpi, MapLayer
from smartcity.domains.colors import BAD, FAIR, GOOD, HAZARD, INFO, POOR, VERY_BAD
from smartcity.domains.environment.kpis import count_above

domain = Domain(
    name="environment",
    entity_types=(
        "AirQualityObserved",
        "WaterObserved",
        "FloodMonitoring",
        "WaterQualityObserved",
        "WeatherObserved",
        "SluiceGate",
    ),
    kpis=(
        Kpi("river-level-can-tho", "Mực nước trạm Cần Thơ", "Level at Cần Thơ station", "m",
            lambda r: r.value_of("WaterObserved", "urn:ngsi-ld:WaterObserved:can-tho", "height")),
        Kpi("flooded-streets", "Tuyến đường đang ngập", "Streets under water", "",
            lambda r: count_above(r, "FloodMonitoring", "currentLevel", 0.10)),
        Kpi("air-stations-poor", "Trạm PM2.5 vượt 50 µg/m³", "Stations with PM2.5 over 50 µg/m³",
            "", lambda r: count_above(r, "AirQualityObserved", "pm25", 50.0)),
        Kpi("max-salinity", "Độ mặn cao nhất", "Highest salinity", "‰",
            lambda r: max(r.numbers("WaterQualityObserved", "salinity"), default=None)),
    ),
    map_layers=(
        # PM2.5 bands until the VN_AQI computation lands (issue 8).
        MapLayer(
            "air", "AirQualityObserved", "Không khí (PM2.5)", "Air (PM2.5)", "pm25",
            steps=((25, GOOD), (50, FAIR), (80, POOR), (150, BAD), (250, VERY_BAD), (1e9, HAZARD)),
            unit="µg/m³",
        ),
        # Alarm levels at Cần Thơ station: BĐ I 1.80 m, BĐ II 1.90 m, BĐ III 2.00 m.
        MapLayer(
            "river-level", "WaterObserved", "Mực nước sông", "River level", "height",
            steps=((1.8, GOOD), (1.9, FAIR), (2.0, POOR), (1e9, BAD)), unit="m",
        ),
        MapLayer(
            "street-flood", "FloodMonitoring", "Ngập đường phố", "Street flooding",
            "currentLevel", steps=((0.05, GOOD), (0.15, FAIR), (0.3, POOR), (1e9, BAD)), unit="m",
        ),
        MapLayer(
            "salinity", "WaterQualityObserved", "Độ mặn", "Salinity", "salinity",
            steps=((1, GOOD), (4, FAIR), (8, POOR), (1e9, BAD)), unit="‰",
            require_attr="salinity",
        ),
        # Dissolved oxygen: the lower, the worse (QCVN 08:2023 bands).
        MapLayer(
            "river-quality", "WaterQualityObserved", "Chất lượng nước sông", "River water quality",
            "O2", steps=((2, BAD), (4, POOR), (5, FAIR), (1e9, GOOD)), unit="mg/L",
            require_attr="pH",
        ),
        MapLayer(
            "weather", "WeatherObserved", "Thời tiết", "Weather", "temperature",
            steps=((25, INFO), (30, GOOD), (34, FAIR), (1e9, POOR)), unit="°C", visible=False,
        ),
        MapLayer(
            "sluice-gates", "SluiceGate", "Cống ngăn mặn", "Sluice gates", "gateState",
            categories={"open": GOOD, "closed": INFO},
        ),
    ),
)  # fmt: skip
