"""Salinity intrusion on the Hậu river: where the salt line stands, and what the water is fit for.

The salt line. In an alluvial estuary salinity falls roughly exponentially inland (Savenije,
"Salinity and Tides in Alluvial Estuaries", 2005): S(x) = S0 · exp(-x / L). Between two
stations the logarithm of salinity is therefore close to linear in distance, and the distance
at which a threshold is crossed is interpolated on log(S), not on S (linear interpolation puts
the line too far inland). The stations are given by their distance from the river mouth along
one channel: the Trần Đề mouth (~5 km), Long Phú (~25 km), Đại Ngãi (~38 km), the Cần Thơ
intakes (~78–80 km). Canal stations off the main stem (Ngã Năm on the Quản Lộ canal) follow
another axis and should not be mixed in.

Use limits (‰, salinity at or above which the water must not be taken for that use):

- rice 4 ‰: the limit used by the delta's salinity bulletins, whose "4 ‰ line" is the rice
  irrigation limit; caution from 3 ‰, where sensitive stages (seedlings, flowering) suffer.
- crops 1 ‰: most field crops and fruit trees should not be irrigated above 1 ‰, durian
  below 0.5 ‰ (nongnghiep.vn, 2023, on restoring durian orchards after salinity intrusion).
- durian 0.64 ‰: durian is the most salt-sensitive orchard crop of the delta. The Southern
  Fruit Research Institute puts its tolerance at no more than 0.5 g/L (Dr Võ Hữu Thoại,
  baoapbac.vn 2020-03-04), growers use up to ~1 g/L sparingly in a crisis; 0.64 ‰ (an
  electrical conductivity of 1 dS/m at the usual 640 mg/L per dS/m of FAO Irrigation and
  Drainage Paper 29) is the limit the project adopted, and the caution band from 0.48 ‰
  covers the institute's 0.5 g/L.
- drinking-water 0.45 ‰: conventional treatment (coagulation, filtration, chlorination) does
  not remove salt, so the raw-water limit is the tap-water limit, 250 mg/L of chloride in the
  national drinking-water regulation (QCVN 01-1:2018/BYT). Utilities stop pumping raw water
  at that level: Saigon Water's Tân Hiệp plant stopped its Saigon-river intake whenever
  salinity exceeded 250 mg/L in 2015–2016, and its procedure since 2019 watches in five levels
  from 50 mg/L, level 4 at 200–250 mg/L (nld.com.vn, March 2020; moitruong.net.vn, "per the
  Ministry of Health's regulation, above 250 mg/L plants must stop taking water"). Bến Tre
  Water works to its local regulation QCĐP 01:2022/BTr
  (< 300 mg/L Cl⁻, baodongkhoi.vn 2024-03-26) and discounts bills when it delivers more than
  0.5 ‰ (baodongkhoi.vn 2021-05-20). Sensors here report salinity, not chloride: in sea-derived
  water S = 1.80655 · Cl (the UNESCO/ICES 1964 relation), so 250 mg/L Cl⁻ is 0.45 ‰. River
  water also carries 0.1–0.2 ‰ of non-chloride salts, so 0.45 ‰ of salinity is a little below
  250 mg/L of chloride: the safe side. Press reports often quote "250 mg/L" as if it were
  0.25 ‰ of salinity; that would stop the intakes for fresh water. The limit is a parameter
  (`intake_limit_ppt`) so that a utility can set its own (0.5 ‰ for Bến Tre's practice).

Every use has a caution band from `CAUTION_FRACTION` (75 %) of its limit: 3–4 ‰ for rice, as
the bulletins advise, and 0.34–0.45 ‰ at an intake (Tân Hiệp's level 4 starts at 80 %).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CAUTION_FRACTION",
    "CHLORIDE_TO_SALINITY",
    "DRINKING_WATER_CHLORIDE_MG_L",
    "DRINKING_WATER_LIMIT_PPT",
    "MAX_EXTRAPOLATION_KM",
    "USE_LIMITS",
    "LineEstimate",
    "Station",
    "UseAdvice",
    "advise",
    "advisories",
    "along_river",
    "format_ppt",
    "line_reach_km",
    "salinity_from_chloride",
]

# Salinity (‰) per chlorinity (‰) in sea-derived water (UNESCO/ICES, 1964).
CHLORIDE_TO_SALINITY = 1.80655
# QCVN 01-1:2018/BYT: chloride in water for domestic use.
DRINKING_WATER_CHLORIDE_MG_L = 250.0
# Beyond the most inland station the decay of the last two stations is extrapolated at most
# this far: the exponential profile is only a rough guide far from the data.
MAX_EXTRAPOLATION_KM = 20.0
# Salinity below this is taken as this in logarithms: the probes' resolution.
_LOG_FLOOR_PPT = 0.01
# A use turns to "caution" at this share of its limit.
CAUTION_FRACTION = 0.75

LineStatus = Literal["between", "beyond-all", "below-all", "no-data"]
AdviceStatus = Literal["safe", "caution", "unsafe"]


def salinity_from_chloride(chloride_mg_l: float) -> float:
    """Salinity (‰) of sea-derived water with this chloride concentration (mg/L)."""
    return CHLORIDE_TO_SALINITY * chloride_mg_l / 1000.0


# 0.45 ‰: the chloride limit expressed as salinity (rounded to the probes' 0.01 ‰).
DRINKING_WATER_LIMIT_PPT = round(salinity_from_chloride(DRINKING_WATER_CHLORIDE_MG_L), 2)

# Salinity (‰) at or above which the water must not be used; see the module docstring.
USE_LIMITS: dict[str, float] = {
    "rice": 4.0,
    "crops": 1.0,
    "durian": 0.64,
    "drinking-water": DRINKING_WATER_LIMIT_PPT,
}

_NAMES: dict[str, tuple[str, str]] = {
    "rice": ("Lúa", "Rice"),
    "crops": ("Hoa màu, cây ăn trái", "Field crops and fruit trees"),
    "durian": ("Sầu riêng", "Durian"),
    "drinking-water": ("Nước sinh hoạt", "Drinking water"),
}
# What to do, per use and status: Vietnamese and English templates ({s}: the salinity,
# {limit}: the limit). Irrigation water is taken at low tide when salinity is near a limit:
# the salt front moves inland with the flood tide and salinity peaks around high water.
_MESSAGES: dict[str, dict[str, tuple[str, str]]] = {
    "rice": {
        "safe": (
            "An toàn cho tưới lúa: độ mặn {s} (ngưỡng {limit})",
            "Safe for irrigating rice: salinity {s} (limit {limit})",
        ),
        "caution": (
            "Thận trọng khi tưới lúa: độ mặn {s} gần ngưỡng {limit}; chỉ lấy nước khi triều "
            "rút và đo lại độ mặn trước khi lấy",
            "Caution irrigating rice: salinity {s} is near the {limit} limit; take water at "
            "low tide only and measure again first",
        ),
        "unsafe": (
            "Không lấy nước tưới lúa: độ mặn {s} (ngưỡng {limit})",
            "Do not take water for rice: salinity {s} (limit {limit})",
        ),
    },
    "crops": {
        "safe": (
            "An toàn cho tưới hoa màu, cây ăn trái: độ mặn {s} (ngưỡng {limit})",
            "Safe for irrigating crops and fruit trees: salinity {s} (limit {limit})",
        ),
        "caution": (
            "Thận trọng khi tưới hoa màu, cây ăn trái: độ mặn {s} gần ngưỡng {limit}; chỉ "
            "lấy nước khi triều rút, ưu tiên dùng nước đã trữ",
            "Caution irrigating crops and fruit trees: salinity {s} is near the {limit} "
            "limit; take water at low tide only, use stored water first",
        ),
        "unsafe": (
            "Không lấy nước tưới hoa màu, cây ăn trái: độ mặn {s} (ngưỡng {limit})",
            "Do not take water for crops and fruit trees: salinity {s} (limit {limit})",
        ),
    },
    "durian": {
        "safe": (
            "An toàn cho tưới sầu riêng: độ mặn {s} (ngưỡng {limit})",
            "Safe for irrigating durian: salinity {s} (limit {limit})",
        ),
        "caution": (
            "Thận trọng khi tưới sầu riêng: độ mặn {s} gần ngưỡng {limit}; dùng nước ngọt "
            "đã trữ, đo độ mặn trước mỗi lần tưới",
            "Caution irrigating durian: salinity {s} is near the {limit} limit; use stored "
            "fresh water and measure before every watering",
        ),
        "unsafe": (
            "Không lấy nước tưới sầu riêng: độ mặn {s} (ngưỡng {limit})",
            "Do not take water for durian: salinity {s} (limit {limit})",
        ),
    },
    "drinking-water": {
        "safe": (
            "An toàn cho lấy nước thô cấp nước sinh hoạt: độ mặn {s} (ngưỡng {limit})",
            "Safe for the drinking-water intake: salinity {s} (limit {limit})",
        ),
        "caution": (
            "Thận trọng tại cửa lấy nước sinh hoạt: độ mặn {s} gần ngưỡng {limit}; theo dõi "
            "liên tục và chuẩn bị ngừng bơm nước thô",
            "Caution at the drinking-water intake: salinity {s} is near the {limit} limit; "
            "monitor continuously and prepare to stop pumping",
        ),
        "unsafe": (
            "Ngừng lấy nước thô cấp nước sinh hoạt: độ mặn {s} (ngưỡng {limit})",
            "Stop the drinking-water intake: salinity {s} (limit {limit})",
        ),
    },
}


@dataclass(frozen=True)
class Station:
    """A salinity station by its distance (km) from the river mouth along the channel."""

    key: str
    distance_km: float


@dataclass(frozen=True)
class LineEstimate:
    """Where the threshold salinity line stands along the river, and how it was found.

    - "between": reach_km is interpolated on log(salinity) between the two stations of
      `bracket_km` that straddle the threshold;
    - "beyond-all": the most inland station reaches the threshold; reach_km is extrapolated
      from the decay between the two most inland stations, at most MAX_EXTRAPOLATION_KM beyond
      the last one, and is that station's distance (a lower bound) when no decay can be read
      (a single station, or salinity not falling inland);
    - "below-all": no station reaches it; the line is seaward of the first station, whose
      distance reach_km gives as an upper bound;
    - "no-data": no readings, reach_km is None.
    """

    reach_km: float | None
    status: LineStatus
    threshold_ppt: float
    bracket_km: tuple[float, float] | None = None


@dataclass(frozen=True)
class UseAdvice:
    """Whether water of a given salinity is fit for one use, with what to do."""

    use: str
    limit_ppt: float
    name_vi: str
    name_en: str
    status: AdviceStatus
    message_vi: str
    message_en: str
    # Salinity from which the status is "caution" (below limit_ppt).
    caution_ppt: float


def along_river(
    stations: Sequence[Station], salinity: Mapping[str, float]
) -> list[tuple[float, float]]:
    """(distance km, salinity ‰) pairs for the stations that have a finite reading."""
    out: list[tuple[float, float]] = []
    for station in stations:
        value = salinity.get(station.key)
        if value is not None and math.isfinite(value):
            out.append((station.distance_km, value))
    return out


def line_reach_km(
    readings: Sequence[tuple[float, float]],
    threshold_ppt: float = 4.0,
    max_extrapolation_km: float = MAX_EXTRAPOLATION_KM,
) -> LineEstimate:
    """Estimate how far from the mouth salinity falls to the threshold (log-linear in distance)."""
    if not threshold_ppt > 0.0:
        raise ValueError("threshold_ppt must be positive")
    points = sorted((x, s) for x, s in readings if math.isfinite(x) and math.isfinite(s))
    if not points:
        return LineEstimate(None, "no-data", threshold_ppt)
    # The most inland station at or above the threshold places the line. Stations seaward of
    # it that read less (a side channel, a tide phase) do not pull it back: the line is where
    # the salt has reached, and the conservative answer is the furthest inland.
    inland = max((i for i, (_, s) in enumerate(points) if s >= threshold_ppt), default=None)
    if inland is None:
        return LineEstimate(points[0][0], "below-all", threshold_ppt)
    x1, s1 = points[inland]
    if inland + 1 < len(points):
        x2, s2 = points[inland + 1]
        reach = _log_interpolate(x1, s1, x2, s2, threshold_ppt)
        return LineEstimate(reach, "between", threshold_ppt, (x1, x2))
    # The most inland station is salty: extrapolate the decay that leads up to it.
    if inland > 0:
        x0, s0 = points[inland - 1]
        if x1 > x0 and s0 > s1 > 0.0:
            length_km = (x1 - x0) / math.log(s0 / s1)
            reach = x1 + min(length_km * math.log(s1 / threshold_ppt), max_extrapolation_km)
            return LineEstimate(reach, "beyond-all", threshold_ppt, (x0, x1))
    return LineEstimate(x1, "beyond-all", threshold_ppt)


def advise(salinity_ppt: float, use: str, limit_ppt: float | None = None) -> UseAdvice:
    """Safe, caution or unsafe for one use (USE_LIMITS, or limit_ppt), with messages."""
    if use not in USE_LIMITS:
        raise ValueError(f"unknown use {use!r}; expected one of {sorted(USE_LIMITS)}")
    if not math.isfinite(salinity_ppt):
        raise ValueError("salinity_ppt must be a finite number")
    limit = USE_LIMITS[use] if limit_ppt is None else limit_ppt
    if not limit > 0.0:
        raise ValueError("limit_ppt must be positive")
    caution = CAUTION_FRACTION * limit
    status: AdviceStatus
    if salinity_ppt >= limit:
        status = "unsafe"
    elif salinity_ppt >= caution:
        status = "caution"
    else:
        status = "safe"
    vi, en = _MESSAGES[use][status]
    name_vi, name_en = _NAMES[use]
    return UseAdvice(
        use=use,
        limit_ppt=limit,
        name_vi=name_vi,
        name_en=name_en,
        status=status,
        message_vi=vi.format(s=format_ppt(salinity_ppt, "vi"), limit=format_ppt(limit, "vi")),
        message_en=en.format(s=format_ppt(salinity_ppt, "en"), limit=format_ppt(limit, "en")),
        caution_ppt=caution,
    )


def advisories(salinity_ppt: float, intake_limit_ppt: float | None = None) -> list[UseAdvice]:
    """One advice per use in USE_LIMITS; intake_limit_ppt overrides the drinking-water limit."""
    return [
        advise(salinity_ppt, use, intake_limit_ppt if use == "drinking-water" else None)
        for use in USE_LIMITS
    ]


def format_ppt(value: float, lang: str = "en") -> str:
    """A salinity with the ‰ sign: 2 decimals (1 from 10 ‰), decimal comma in Vietnamese."""
    text = f"{value:.1f}" if abs(value) >= 10.0 else f"{value:.2f}"
    if lang == "vi":
        text = text.replace(".", ",")
    return text + "‰"


def _log_interpolate(x1: float, s1: float, x2: float, s2: float, target: float) -> float:
    """Distance where log(salinity) reaches log(target) between (x1, s1) and (x2, s2)."""
    log1 = math.log(max(s1, _LOG_FLOOR_PPT))
    log2 = math.log(max(s2, _LOG_FLOOR_PPT))
    if log1 == log2:
        return x1
    fraction = (log1 - math.log(target)) / (log1 - log2)
    return x1 + (x2 - x1) * fraction
