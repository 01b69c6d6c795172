"""Street lighting: lamps and their control cabinets."""

from smartcity.core.registry import Domain, Kpi, MapLayer
from smartcity.domains.colors import BAD, FAIR, GOOD
from smartcity.domains.lighting.kpis import share

domain = Domain(
    name="lighting",
    entity_types=("Streetlight", "StreetlightControlCabinet"),
    kpis=(
        Kpi("lamps-working", "Đèn hoạt động tốt", "Lamps working", "%",
            lambda r: share(r.values("Streetlight", "status"), "ok")),
        Kpi("lighting-power", "Công suất chiếu sáng", "Lighting power", "kW",
            lambda r: sum(r.numbers("StreetlightControlCabinet", "activePower"))),
    ),
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
