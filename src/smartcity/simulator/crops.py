"""Rice crop calendar of a parcel: three seasons a year and the growth stage by date.

Cần Thơ's diked fields grow three crops a year of short-duration varieties (OM5451, ĐT8,
Jasmine 85: 90–105 days). Sowing windows follow the Department of Agriculture's yearly
calendar (Đông Xuân from late November, Hè Thu from mid-April after the dry-season harvest,
Thu Đông from mid-August), staggered field by field ("xuống giống né rầy" spreads sowing over
a few weeks to dodge brown planthopper flights).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from smartcity.simulator.timebase import epoch_s, local_date, stream_key, uniform


class RiceSeason(StrEnum):
    """The three rice seasons of the Mekong delta."""

    DONG_XUAN = "dong-xuan"  # winter–spring, the main and highest-yield crop
    HE_THU = "he-thu"  # summer–autumn
    THU_DONG = "thu-dong"  # autumn–winter, only behind full flood dikes


class RiceStage(StrEnum):
    """Growth stages of direct-seeded rice."""

    FALLOW = "fallow"
    SEEDLING = "seedling"  # mạ
    TILLERING = "tillering"  # đẻ nhánh
    PANICLE = "panicle-initiation"  # làm đòng
    FLOWERING = "flowering"  # trổ bông
    RIPENING = "ripening"  # chín
    HARVEST = "harvest"


# (season, sowing month, sowing day, days to harvest) for the average field.
SEASONS: tuple[tuple[RiceSeason, int, int, int], ...] = (
    (RiceSeason.DONG_XUAN, 11, 25, 100),
    (RiceSeason.HE_THU, 4, 15, 95),
    (RiceSeason.THU_DONG, 8, 10, 95),
)
# Stage boundaries as shares of the season (for a ~100-day variety: tillering from day 20,
# panicle initiation ~45, flowering ~65, ripening ~75, harvest the last 3 days).
STAGES: tuple[tuple[float, RiceStage], ...] = (
    (0.20, RiceStage.SEEDLING),
    (0.45, RiceStage.TILLERING),
    (0.65, RiceStage.PANICLE),
    (0.75, RiceStage.FLOWERING),
    (0.97, RiceStage.RIPENING),
    (1.00, RiceStage.HARVEST),
)
# Field-to-field stagger of the sowing date (days, each way).
STAGGER_DAYS = 6


class CropStatus(NamedTuple):
    """Where a parcel is in its crop calendar."""

    season: RiceSeason | None
    stage: RiceStage
    days_after_sowing: int | None
    sowing_date: date | None
    harvest_date: date | None


@dataclass(frozen=True)
class RiceCropModel:
    """The rice calendar of one parcel (a two-crop parcel omits Thu Đông)."""

    key: str
    seed: int = 0
    seasons: tuple[RiceSeason, ...] = (RiceSeason.DONG_XUAN, RiceSeason.HE_THU, RiceSeason.THU_DONG)

    def _offset_days(self) -> int:
        # Fixed for the parcel (not per time bucket): a farmer keeps to his usual window.
        u = uniform(stream_key(self.seed, "crop:" + self.key), 0)
        return round((2.0 * u - 1.0) * STAGGER_DAYS)

    def status_on(self, day: date) -> CropStatus:
        """The crop status on a local calendar date."""
        offset = timedelta(days=self._offset_days())
        for season, month, dom, length in SEASONS:
            if season not in self.seasons:
                continue
            # Đông Xuân sown in November is harvested the next year: try both years.
            for year in (day.year, day.year - 1):
                sown = date(year, month, dom) + offset
                harvest = sown + timedelta(days=length)
                if sown <= day <= harvest:
                    das = (day - sown).days
                    share = das / length
                    stage = next(s for limit, s in STAGES if share < limit or limit == 1.0)
                    return CropStatus(season, stage, das, sown, harvest)
        return CropStatus(None, RiceStage.FALLOW, None, None, None)

    def value_at(self, t: float) -> CropStatus:
        """The crop status at epoch seconds t."""
        return self.status_on(local_date(t))

    def value(self, at: datetime) -> CropStatus:
        """The crop status at a time."""
        return self.value_at(epoch_s(at))
