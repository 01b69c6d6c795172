"""Agriculture: rice parcels and their crop calendar."""

from smartcity.core.registry import Domain, MapLayer
from smartcity.domains.colors import FAIR, GOOD, IDLE, INFO, POOR

domain = Domain(
    name="agriculture",
    entity_types=("AgriParcel",),
    map_layers=(
        MapLayer(
            "rice-parcels", "AgriParcel", "Ruộng lúa", "Rice parcels", "cropStage",
            categories={
                "fallow": IDLE, "seedling": INFO, "tillering": GOOD,
                "panicle-initiation": GOOD, "flowering": FAIR, "ripening": FAIR, "harvest": POOR,
            },
            visible=False,
        ),
    ),
)  # fmt: skip
