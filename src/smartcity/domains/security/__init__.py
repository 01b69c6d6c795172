"""Public order and security: crowds and events flagged by cameras at public places."""

from smartcity.core.registry import Domain, MapLayer
from smartcity.domains.colors import BAD, GOOD

domain = Domain(
    name="security",
    entity_types=("CrowdFlowObserved",),
    map_layers=(
        MapLayer(
            "public-order", "CrowdFlowObserved", "Trật tự công cộng", "Public order",
            "publicOrderEvent", categories={"none": GOOD, "*": BAD},
        ),
    ),
)  # fmt: skip
