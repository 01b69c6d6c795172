"""Energy: rooftop solar and wind generation."""

from smartcity.core.registry import Domain, MapLayer
from smartcity.domains.colors import FAIR, GOOD, IDLE

domain = Domain(
    name="energy",
    entity_types=("PhotovoltaicMeasurement", "WindTurbine"),
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
