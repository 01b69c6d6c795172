"""Public order and security: crowds and events flagged by cameras at public places."""

from smartcity.core.registry import Domain, Kpi, MapLayer
from smartcity.domains.colors import BAD, GOOD

domain = Domain(
    name="security",
    entity_types=("CrowdFlowObserved",),
    kpis=(
        Kpi("public-order-events", "Sự việc trật tự công cộng", "Public-order events", "",
            lambda r: sum(1 for v in r.values("CrowdFlowObserved", "publicOrderEvent")
                          if v not in (None, "none"))),
    ),
    map_layers=(
        MapLayer(
            "public-order", "CrowdFlowObserved", "Trật tự công cộng", "Public order",
            "publicOrderEvent", categories={"none": GOOD, "*": BAD},
        ),
    ),
)  # fmt: skip
