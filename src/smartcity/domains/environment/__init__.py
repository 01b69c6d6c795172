"""Environment: air and river quality, river levels and street flooding, salinity, gates."""

from smartcity.core.registry import Domain, Kpi, MapLayer
from smartcity.domains.colors import BAD, FAIR, GOOD, INFO, POOR
from smartcity.domains.environment import api, kpis, models, rules, service

#: The colours QĐ 1459/QĐ-TCMT gives the six VN_AQI categories (and QĐ 1460 the WQI classes).
AQI_STEPS = (
    (50, "#00e400"),
    (100, "#ffff00"),
    (150, "#ff7e00"),
    (200, "#ff0000"),
    (300, "#8f3f97"),
    (1e9, "#7e0023"),
)
WQI_STEPS = (
    (9, "#7e0023"),
    (25, "#ff0000"),
    (50, "#ff7e00"),
    (75, "#ffff00"),
    (90, "#00e400"),
    (100, "#3333ff"),
)

domain = Domain(
    name="environment",
    router=api.router,
    metadata=models.metadata,
    setup=service.setup,
    entity_types=(
        "AirQualityObserved",
        "WaterObserved",
        "FloodMonitoring",
        "FloodRiskArea",
        "WaterQualityObserved",
        "SalinityFront",
        "WeatherObserved",
        "SluiceGate",
    ),
    alert_rules=rules.DEFAULT_RULES,
    kpis=(
        Kpi("river-level-can-tho", "Mực nước trạm Cần Thơ", "Level at Cần Thơ station", "m",
            lambda r: r.value_of("WaterObserved", "urn:ngsi-ld:WaterObserved:can-tho", "height")),
        Kpi("hours-above-bd3", "Số giờ trên BĐ III (30 ngày)", "Hours above BĐ III (30 days)",
            "h", kpis.hours_above_bd3),
        Kpi("flooded-streets", "Tuyến đường đang ngập", "Streets under water", "",
            lambda r: kpis.count_above(r, "FloodMonitoring", "currentLevel", 0.10)),
        Kpi("aqi-good-share", "Giờ-trạm có VN_AQI ≤ 100 (24 giờ)",
            "Station-hours with VN_AQI ≤ 100 (24 h)", "%", kpis.aqi_good_share),
        Kpi("wqi-usable-share", "Trạm nước có WQI ≥ 51", "River stations with WQI ≥ 51", "%",
            kpis.wqi_usable_share),
        Kpi("max-salinity", "Độ mặn cao nhất", "Highest salinity", "‰",
            lambda r: max(r.numbers("WaterQualityObserved", "salinity"), default=None)),
        Kpi("intake-salty-days", "Ngày cửa lấy nước vượt ngưỡng mặn (30 ngày)",
            "Days with intake salinity above threshold (30 days)", "", kpis.intake_salty_days),
    ),
    map_layers=(
        MapLayer(
            "air", "AirQualityObserved", "Chất lượng không khí (VN_AQI)", "Air quality (VN_AQI)",
            "airQualityIndex", steps=AQI_STEPS,
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
            "flood-streets", "FloodRiskArea", "Tuyến đường hay ngập", "Streets known to flood",
            "expectedDepth", steps=((0.0, GOOD), (0.1, FAIR), (0.3, POOR), (1e9, BAD)), unit="m",
        ),
        MapLayer(
            "salinity", "WaterQualityObserved", "Độ mặn", "Salinity", "salinity",
            steps=((1, GOOD), (4, FAIR), (8, POOR), (1e9, BAD)), unit="‰",
            require_attr="salinity",
        ),
        MapLayer(
            "salinity-front", "SalinityFront", "Ranh mặn 4‰", "The 4‰ salinity line", "reachKm",
            steps=((1e9, BAD),), unit="km",
        ),
        MapLayer(
            "river-quality", "WaterQualityObserved", "Chất lượng nước sông (VN_WQI)",
            "River water quality (VN_WQI)", "waterQualityIndex", steps=WQI_STEPS,
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
