"""Traffic: flow, speed and congestion on the road network."""

from smartcity.core.registry import Domain, Kpi, MapLayer
from smartcity.domains.colors import BAD, FAIR, GOOD, POOR
from smartcity.domains.traffic.kpis import mean

domain = Domain(
    name="traffic",
    entity_types=("TrafficFlowObserved", "RoadSegment"),
    kpis=(
        Kpi("congested-segments", "Đoạn đường ùn tắc", "Congested road segments", "",
            lambda r: sum(1 for v in r.values("TrafficFlowObserved", "congested") if v is True)),
        Kpi("mean-speed", "Tốc độ trung bình", "Mean speed", "km/h",
            lambda r: mean(r.numbers("TrafficFlowObserved", "averageVehicleSpeed"))),
    ),
    map_layers=(
        MapLayer(
            "traffic", "TrafficFlowObserved", "Giao thông", "Traffic", "averageVehicleSpeed",
            steps=((10, BAD), (20, POOR), (30, FAIR), (1e9, GOOD)), unit="km/h",
        ),
    ),
)  # fmt: skip
