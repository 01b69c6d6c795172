"""Energy: rooftop solar and wind generation."""

from smartcity.core.registry import Domain, Kpi, MapLayer
from smartcity.domains.colors import FAIR, GOOD, IDLE

domain = Domain(
    name="energy",
    entity_types=("PhotovoltaicMeasurement", "WindTurbine"),
    kpis=(
        Kpi("solar-power", "Công suất điện mặt trời", "Solar power", "kW",
            lambda r: sum(r.numbers("PhotovoltaicMeasurement", "activePower"))),
        Kpi("wind-power", "Công suất điện gió", "Wind power", "kW",
            lambda r: sum(r.numbers("WindTurbine", "activePower"))),
    ),
    map_layers=(
        MapLayer(
            "solar", "PhotovoltaicMeasurement", "Điện mặt trời", "Solar power", "activePower",
            steps=((0.01, IDLE), (5, FAIR), (1e9, GOOD)), unit="kW", visible=False,
        ),
        MapLayer(
            "wind", "WindTurbine", "Điện gió", "Wind power", "activePower",
            steps=((1, IDLE), (1000, FAIR), (1e9, GOOD)), unit="kW", visible=False,
        ),
    ),
)  # fmt: skip
