"""Citizens: field reports through Open311 and the Can Tho Smart app, the departments' work."""

from smartcity.core.registry import Domain, Kpi, MapLayer
from smartcity.domains.citizen import api, kpis, models, service
from smartcity.domains.colors import BAD, FAIR, GOOD, INFO, POOR

domain = Domain(
    name="citizen",
    router=api.router,
    root_router=api.open311_router,
    metadata=models.metadata,
    setup=service.setup,
    entity_types=("ServiceRequest",),
    kpis=(
        Kpi("citizen-open-reports", "Phản ánh đang xử lý", "Citizen reports open", "",
            kpis.open_reports),
        Kpi("citizen-on-time", "Phản ánh xử lý đúng hạn (90 ngày)",
            "Reports handled on time (90 days)", "%", kpis.on_time_rate),
        Kpi("citizen-satisfaction", "Mức độ hài lòng (90 ngày)", "Satisfaction (90 days)", "%",
            kpis.satisfaction_rate),
        Kpi("citizen-median-close", "Thời gian xử lý trung vị", "Median time to close", "h",
            kpis.median_hours_to_close),
    ),
    map_layers=(
        MapLayer(
            "citizen-reports", "ServiceRequest", "Phản ánh hiện trường", "Citizen reports",
            "status",
            categories={"received": BAD, "assigned": POOR, "in_progress": FAIR,
                        "need_info": INFO, "closed": GOOD, "merged": GOOD},
        ),
    ),
)  # fmt: skip
