"""Salinity on the Hậu: the salt line between stations and the advice per water use."""

from __future__ import annotations

import math

import pytest

from smartcity.domains.environment.salinity import (
    CAUTION_FRACTION,
    DRINKING_WATER_LIMIT_PPT,
    MAX_EXTRAPOLATION_KM,
    USE_LIMITS,
    LineEstimate,
    Station,
    advise,
    advisories,
    along_river,
    format_ppt,
    line_reach_km,
    salinity_from_chloride,
)

# Stations along the Hậu main stem, km from the mouth.
TRAN_DE = Station("tran-de", 5.0)
LONG_PHU = Station("long-phu", 25.0)
DAI_NGAI = Station("dai-ngai", 38.0)
CAN_THO = Station("can-tho-intake", 80.0)


def profile(mouth: float, length_km: float, xs: list[float]) -> list[tuple[float, float]]:
    """An exponential salinity profile S(x) = mouth · exp(-x / L) sampled at the stations."""
    return [(x, mouth * math.exp(-x / length_km)) for x in xs]


# --- the salt line -------------------------------------------------------------------------


def test_interpolation_in_log_space_recovers_an_exponential_profile() -> None:
    mouth, length = 28.0, 24.5  # a March intrusion
    true_reach = length * math.log(mouth / 4.0)  # ≈ 47.7 km
    readings = profile(mouth, length, [5.0, 25.0, 38.0, 80.0])
    estimate = line_reach_km(readings, 4.0)
    assert estimate.status == "between"
    assert estimate.bracket_km == (38.0, 80.0)
    assert estimate.reach_km == pytest.approx(true_reach, abs=1e-9)
    # Linear interpolation of S itself would put the line much further inland.
    (x1, s1), (x2, s2) = readings[2], readings[3]
    linear = x1 + (x2 - x1) * (s1 - 4.0) / (s1 - s2)
    assert linear - true_reach > 5.0


def test_interpolation_by_hand() -> None:
    # 8 ‰ at 20 km, 2 ‰ at 40 km: 4 ‰ is halfway in log space.
    estimate = line_reach_km([(20.0, 8.0), (40.0, 2.0)], 4.0)
    assert estimate == LineEstimate(30.0, "between", 4.0, (20.0, 40.0))


def test_readings_in_any_order_and_a_station_exactly_at_the_threshold() -> None:
    estimate = line_reach_km([(80.0, 0.2), (5.0, 20.0), (38.0, 4.0)], 4.0)
    assert estimate.status == "between"
    assert estimate.reach_km == pytest.approx(38.0)


def test_fresh_station_reading_zero_does_not_break_the_logarithm() -> None:
    estimate = line_reach_km([(38.0, 6.0), (80.0, 0.0)], 4.0)
    assert estimate.status == "between"
    assert estimate.reach_km is not None and 38.0 < estimate.reach_km < 80.0


def test_the_most_inland_salty_station_places_the_line() -> None:
    # Long Phú reads low (tide phase), Đại Ngãi further inland is salty: the line is past 38.
    readings = [(5.0, 15.0), (25.0, 3.0), (38.0, 5.0), (80.0, 0.3)]
    estimate = line_reach_km(readings, 4.0)
    assert estimate.bracket_km == (38.0, 80.0)
    assert estimate.reach_km is not None and estimate.reach_km > 38.0


def test_below_all_returns_the_first_station_as_an_upper_bound() -> None:
    readings = profile(9.0, 5.5, [5.0, 25.0, 38.0, 80.0])  # October: only 1.4 ‰ at Trần Đề
    estimate = line_reach_km(readings, 4.0)
    assert estimate == LineEstimate(5.0, "below-all", 4.0)


def test_beyond_all_extrapolates_the_last_decay() -> None:
    # A severe season: 4 ‰ past Đại Ngãi, and only these three stations report.
    mouth, length = 32.0, 31.0
    readings = profile(mouth, length, [5.0, 25.0, 38.0])
    estimate = line_reach_km(readings, 4.0)
    assert estimate.status == "beyond-all"
    assert estimate.bracket_km == (25.0, 38.0)
    # 31 · ln 8 ≈ 64.5 km, capped at 20 km beyond the last station.
    assert estimate.reach_km == pytest.approx(38.0 + MAX_EXTRAPOLATION_KM)
    uncapped = line_reach_km(readings, 4.0, max_extrapolation_km=100.0)
    assert uncapped.reach_km == pytest.approx(length * math.log(mouth / 4.0))


def test_beyond_all_without_a_decay_gives_the_last_station() -> None:
    assert line_reach_km([(38.0, 5.0)], 4.0) == LineEstimate(38.0, "beyond-all", 4.0)
    # Salinity rising inland (a canal fed from another mouth): no decay to extrapolate.
    rising = line_reach_km([(25.0, 4.5), (38.0, 6.0)], 4.0)
    assert rising == LineEstimate(38.0, "beyond-all", 4.0)


def test_no_data() -> None:
    assert line_reach_km([], 4.0) == LineEstimate(None, "no-data", 4.0)
    assert line_reach_km([(5.0, math.nan)], 4.0).status == "no-data"
    with pytest.raises(ValueError, match="positive"):
        line_reach_km([(5.0, 1.0)], 0.0)


def test_other_thresholds() -> None:
    mouth, length = 28.0, 24.5
    readings = profile(mouth, length, [5.0, 25.0, 38.0, 80.0])
    one = line_reach_km(readings, 1.0)
    assert one.reach_km == pytest.approx(length * math.log(mouth / 1.0))
    # A pure exponential (no fresh-water floor) still has 1.07 ‰ at Cần Thơ: the 0.45 ‰ line
    # is beyond the last station, 24.5 · ln(1.07 / 0.45) ≈ 21 km on, capped at 20 km.
    intake = line_reach_km(readings, DRINKING_WATER_LIMIT_PPT)
    assert intake.status == "beyond-all"
    assert intake.reach_km == pytest.approx(80.0 + MAX_EXTRAPOLATION_KM)


def test_along_river_pairs_stations_with_readings() -> None:
    stations = [TRAN_DE, LONG_PHU, DAI_NGAI, CAN_THO]
    values = {"tran-de": 22.0, "dai-ngai": 5.1, "can-tho-intake": math.nan, "elsewhere": 1.0}
    assert along_river(stations, values) == [(5.0, 22.0), (38.0, 5.1)]


# --- use advice ----------------------------------------------------------------------------


def test_drinking_water_default_is_250_mg_per_litre_of_chloride() -> None:
    assert salinity_from_chloride(250.0) == pytest.approx(0.4516, abs=1e-4)
    assert DRINKING_WATER_LIMIT_PPT == 0.45
    assert USE_LIMITS["drinking-water"] == 0.45


@pytest.mark.parametrize(
    ("use", "salinity", "status"),
    [
        ("rice", 0.2, "safe"),
        ("rice", 2.99, "safe"),
        ("rice", 3.0, "caution"),
        ("rice", 3.99, "caution"),
        ("rice", 4.0, "unsafe"),
        ("rice", 12.0, "unsafe"),
        ("crops", 0.74, "safe"),
        ("crops", 0.75, "caution"),
        ("crops", 1.0, "unsafe"),
        ("durian", 0.47, "safe"),
        ("durian", 0.5, "caution"),
        ("durian", 0.64, "unsafe"),
        ("drinking-water", 0.15, "safe"),
        ("drinking-water", 0.34, "caution"),
        ("drinking-water", 0.45, "unsafe"),
    ],
)
def test_advice_thresholds(use: str, salinity: float, status: str) -> None:
    advice = advise(salinity, use)
    assert advice.status == status
    assert advice.limit_ppt == USE_LIMITS[use]
    assert advice.caution_ppt == pytest.approx(CAUTION_FRACTION * USE_LIMITS[use])


def test_rice_messages_in_vietnamese_and_english() -> None:
    unsafe = advise(5.2, "rice")
    assert unsafe.name_vi == "Lúa" and unsafe.name_en == "Rice"
    assert unsafe.message_vi == "Không lấy nước tưới lúa: độ mặn 5,20‰ (ngưỡng 4,00‰)"
    assert unsafe.message_en == "Do not take water for rice: salinity 5.20‰ (limit 4.00‰)"
    safe = advise(1.2, "rice")
    assert safe.message_vi.startswith("An toàn cho tưới lúa: độ mặn 1,20‰")
    caution = advise(3.4, "rice")
    assert caution.message_vi.startswith("Thận trọng khi tưới lúa")
    assert "triều rút" in caution.message_vi and "low tide" in caution.message_en


def test_drinking_water_messages_and_limit_override() -> None:
    advice = advise(0.62, "drinking-water")
    assert advice.status == "unsafe"
    assert advice.message_vi == "Ngừng lấy nước thô cấp nước sinh hoạt: độ mặn 0,62‰ (ngưỡng 0,45‰)"
    # A utility working to 0.5 ‰ (Bến Tre's practice).
    relaxed = advise(0.47, "drinking-water", limit_ppt=0.5)
    assert relaxed.status == "caution" and relaxed.limit_ppt == 0.5
    assert "0,50‰" in relaxed.message_vi


def test_every_message_is_filled_in_and_vietnamese_uses_decimal_commas() -> None:
    for use in USE_LIMITS:
        for salinity in (0.05, 0.9 * CAUTION_FRACTION * USE_LIMITS[use], USE_LIMITS[use] * 2):
            advice = advise(salinity, use)
            for text in (advice.message_vi, advice.message_en):
                assert "{" not in text and "‰" in text
            assert "." not in advice.message_vi.split(":", 1)[1]
            assert "," not in advice.message_en.split(":", 1)[1].split(";")[0]


def test_advisories_cover_every_use_and_pass_the_intake_limit() -> None:
    all_uses = advisories(0.55)
    assert [a.use for a in all_uses] == list(USE_LIMITS)
    status = {a.use: a.status for a in all_uses}
    assert status == {
        "rice": "safe",
        "crops": "safe",
        "durian": "caution",
        "drinking-water": "unsafe",
    }
    relaxed = {a.use: a for a in advisories(0.55, intake_limit_ppt=1.0)}
    assert relaxed["drinking-water"].limit_ppt == 1.0
    assert relaxed["drinking-water"].status == "safe"
    # The override is for the intake only.
    assert relaxed["crops"].limit_ppt == USE_LIMITS["crops"]


def test_advise_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown use"):
        advise(1.0, "shrimp")
    with pytest.raises(ValueError, match="finite"):
        advise(math.nan, "rice")
    with pytest.raises(ValueError, match="positive"):
        advise(1.0, "rice", limit_ppt=0.0)


def test_format_ppt() -> None:
    assert format_ppt(0.5, "vi") == "0,50‰"
    assert format_ppt(0.5) == "0.50‰"
    assert format_ppt(28.04, "vi") == "28,0‰"
