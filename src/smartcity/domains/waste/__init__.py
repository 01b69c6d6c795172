"""Waste: bin fill levels."""

from smartcity.core.registry import Domain, Kpi, MapLayer
from smartcity.domains.colors import BAD, FAIR, GOOD, POOR

domain = Domain(
    name="waste",
    entity_types=("WasteContainer",),
    kpis=(
        Kpi("bins-nearly-full", "Thùng rác đầy trên 80 %", "Bins over 80 % full", "",
            lambda r: sum(1 for v in r.numbers("WasteContainer", "fillingLevel") if v > 0.8)),
    ),
    map_layers=(
        MapLayer(
            "waste-bins", "WasteContainer", "Thùng rác", "Waste bins", "fillingLevel",
            steps=((0.5, GOOD), (0.8, FAIR), (0.9, POOR), (1e9, BAD)), unit="",
        ),
    ),
)  # fmt: skip
