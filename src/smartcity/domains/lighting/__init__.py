"""Street lighting: lamps and their control cabinets."""

from smartcity.core.registry import Domain, MapLayer
from smartcity.domains.colors import BAD, FAIR, GOOD

domain = Domain(
    name="lighting",
    entity_types=("Streetlight", "StreetlightControlCabinet"),
    map_layers=(
        MapLayer(
            "streetlights", "Streetlight", "Đèn đường", "Street lights", "status",
            categories={"ok": GOOD, "defectivelamp": BAD},
        ),
        MapLayer(
            "light-cabinets", "StreetlightControlCabinet", "Tủ điện chiếu sáng",
            "Lighting cabinets", "lampsFaulty", steps=((0, GOOD), (2, FAIR), (1e9, BAD)),
            visible=False,
        ),
    ),
)  # fmt: skip
