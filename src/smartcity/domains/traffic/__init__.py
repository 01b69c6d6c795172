"""Traffic: flow, speed and congestion on the road network."""

from smartcity.core.registry import Domain, MapLayer
from smartcity.domains.colors import BAD, FAIR, GOOD, POOR

domain = Domain(
    name="traffic",
    entity_types=("TrafficFlowObserved", "RoadSegment"),
    map_layers=(
        MapLayer(
            "traffic", "TrafficFlowObserved", "Giao thông", "Traffic", "averageVehicleSpeed",
            steps=((10, BAD), (20, POOR), (30, FAIR), (1e9, GOOD)), unit="km/h",
        ),
    ),
)  # fmt: skip
