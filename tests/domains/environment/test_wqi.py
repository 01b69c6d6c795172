"""VN_WQI per Quyết định 1460/QĐ-TCMT: sub-index tables, bands, aggregation, data rules.

The tables below are transcribed here independently of the module (q = 100, 75, 50, 25, 10
per row), so a slip in either copy shows up.
"""

from __future__ import annotations

import math

import pytest

from smartcity.domains.environment.wqi import (
    CLASSES,
    NotEnoughData,
    WqiResult,
    do_percent,
    do_saturation,
    sub_index,
    vn_wqi,
    wqi_class,
)

Q = (100.0, 75.0, 50.0, 25.0, 10.0)

#: The decision's rows. First row strict ("<") where marked, last row strict (">") where
#: rows 4 and 5 repeat the value.
TABLES: dict[str, tuple[float, float, float, float, float]] = {
    "As": (0.01, 0.02, 0.05, 0.1, 0.1),
    "Cd": (0.005, 0.005, 0.008, 0.01, 0.1),
    "Pb": (0.02, 0.02, 0.04, 0.05, 0.5),
    "Cr6": (0.01, 0.02, 0.04, 0.05, 0.1),
    "Cu": (0.1, 0.2, 0.5, 1.0, 2.0),
    "Zn": (0.5, 1.0, 1.5, 2.0, 3.0),
    "Hg": (0.001, 0.001, 0.0015, 0.002, 0.01),
    "BOD": (4, 6, 15, 25, 50),
    "COD": (10, 15, 30, 50, 150),
    "TOC": (4, 6, 15, 25, 50),
    "NH4": (0.3, 0.3, 0.6, 0.9, 5),
    "NO3": (2, 5, 10, 15, 15),
    "PO4": (0.1, 0.2, 0.3, 0.5, 4),
    "coliform": (2500, 5000, 7500, 10000, 10000),
    "ecoli": (20, 50, 100, 200, 200),
}

#: The value on each row's breakpoint and the q it must give (duplicates resolved).
ON_BREAKPOINT = [
    (name, bp, q)
    for name, bps in TABLES.items()
    for i, (bp, q) in enumerate(zip(bps, Q, strict=True))
    # A repeated value belongs to one row only: row 2 for a repeated first value, row 4
    # for a repeated last value.
    if not (i == 0 and bps[1] == bps[0]) and not (i == 4 and bps[4] == bps[3])
]

#: Midpoints between distinct consecutive breakpoints and the mean of their q.
MIDPOINTS = [
    (name, (bps[i] + bps[i + 1]) / 2, (Q[i] + Q[i + 1]) / 2)
    for name, bps in TABLES.items()
    for i in range(4)
    if bps[i] != bps[i + 1]
]


@pytest.mark.parametrize(("name", "value", "q"), ON_BREAKPOINT)
def test_value_on_a_breakpoint_gives_its_row_q(name: str, value: float, q: float) -> None:
    assert sub_index(name, value) == pytest.approx(q)


@pytest.mark.parametrize(("name", "value", "q"), MIDPOINTS)
def test_midpoints_interpolate_linearly(name: str, value: float, q: float) -> None:
    assert sub_index(name, value) == pytest.approx(q)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_clean_water_gives_100_and_dirty_water_10(name: str) -> None:
    bps = TABLES[name]
    assert sub_index(name, 0.0) == 100
    assert sub_index(name, bps[0] * 0.999) == 100
    assert sub_index(name, bps[4] * 1.001) == 10
    assert sub_index(name, bps[4] * 100) == 10


@pytest.mark.parametrize(
    ("name", "value", "q"),
    [
        # First row "<": just below is 100, on it 75.
        ("NH4", 0.2999, 100),
        ("NH4", 0.3, 75),
        ("NH4", 0.45, 62.5),
        ("Cd", 0.0049, 100),
        ("Cd", 0.005, 75),
        ("Pb", 0.02, 75),
        ("Hg", 0.00099, 100),
        ("Hg", 0.001, 75),
        # First row "≤": on it 100.
        ("BOD", 4, 100),
        ("Cu", 0.1, 100),
        # Last row ">" (rows 4 and 5 equal): 25 on it, 10 just above.
        ("As", 0.1, 25),
        ("As", 0.1001, 10),
        ("NO3", 15, 25),
        ("NO3", 15.01, 10),
        ("coliform", 10000, 25),
        ("coliform", 10001, 10),
        ("ecoli", 200, 25),
        ("ecoli", 201, 10),
        # Last row "≥" after a gap: 25 → 10 across it, 10 on it.
        ("BOD", 37.5, 17.5),
        ("BOD", 50, 10),
        ("COD", 100, 17.5),
        ("Cd", 0.055, 17.5),
        ("Hg", 0.006, 17.5),
        ("PO4", 2.25, 17.5),
    ],
)
def test_edges_of_the_tables(name: str, value: float, q: float) -> None:
    assert sub_index(name, value) == pytest.approx(q)


@pytest.mark.parametrize(
    ("name", "limit"),
    [("aldrin", 0.1), ("BHC", 0.02), ("dieldrin", 0.1), ("DDTs", 1.0), ("heptachlor", 0.2),
     ("NO2", 0.05)],
)  # fmt: skip
def test_single_limit_parameters(name: str, limit: float) -> None:
    assert sub_index(name, 0.0) == 100
    assert sub_index(name, limit) == 100
    assert sub_index(name, limit * 1.01) == 10


@pytest.mark.parametrize(
    ("ph", "q"),
    [(4.0, 10), (5.49, 10), (5.5, 50), (5.75, 75), (6.0, 100), (7.0, 100), (8.5, 100),
     (8.75, 75), (8.875, 62.5), (9.0, 50), (9.01, 10), (12.0, 10)],
)  # fmt: skip
def test_ph_bands(ph: float, q: float) -> None:
    assert sub_index("pH", ph) == pytest.approx(q)


@pytest.mark.parametrize(
    ("percent", "q"),
    [(0.0, 10), (19.9, 10), (20, 25), (35, 37.5), (50, 50), (62.5, 62.5), (75, 75),
     (81.5, 87.5), (88, 100), (100, 100), (112, 100), (118.5, 87.5), (125, 75),
     (137.5, 62.5), (150, 50), (175, 37.5), (200, 25), (200.1, 10), (300, 10)],
)  # fmt: skip
def test_do_saturation_bands(percent: float, q: float) -> None:
    assert sub_index("O2_percent", percent) == pytest.approx(q)


def test_do_saturation_formula() -> None:
    # 14.652 − 0.41022·T + 0.0079910·T² − 0.000077774·T³
    assert do_saturation(0) == pytest.approx(14.652)
    assert do_saturation(20) == pytest.approx(14.652 - 8.2044 + 3.1964 - 0.622192)
    # 25 °C: 14.652 − 10.2555 + 4.994375 − 1.21521875 = 8.17565625 mg/L.
    assert do_saturation(25) == pytest.approx(8.17565625)
    # 30 °C: 14.652 − 12.3066 + 7.1919 − 2.099898 = 7.437402 mg/L.
    assert do_saturation(30) == pytest.approx(7.437402)
    assert do_percent(8.17565625, 25) == pytest.approx(100)
    assert do_percent(4.087828125, 25) == pytest.approx(50)


def test_do_from_mg_l_and_temperature() -> None:
    base = {"BOD": 1, "COD": 1, "NH4": 0.1, "pH": 7, "coliform": 100}
    # 6.13 mg/L at 25 °C is 75 % of saturation: q 75.
    result = vn_wqi({**base, "O2": 0.75 * 8.17565625, "temperature": 25})
    assert result.sub_indices["O2"] == pytest.approx(75)
    # The % directly, when no mg/L reading comes with it.
    result = vn_wqi({**base, "O2_percent": 75})
    assert result.sub_indices["O2"] == pytest.approx(75)


@pytest.mark.parametrize(
    ("name", "value"),
    [("pH", math.nan), ("BOD", math.inf), ("BOD", -1.0), ("TSS", 10.0), ("O2", 6.0)],
)
def test_sub_index_rejects(name: str, value: float) -> None:
    with pytest.raises(ValueError):
        sub_index(name, value)


def test_worked_example_with_all_groups() -> None:
    """A hand-computed example of the decision's formula, every step by hand.

    pH 7 → 100. Aldrin 0.05 µg/L → 100, BHC 0.03 µg/L → 10: group II = √(100·10) = 31.62.
    Cd 0.005 mg/L → 75, Zn 0.5 mg/L → 100: group III = √(75·100) = 86.60.
    DO at saturation (25 °C) → 100, BOD 6 → 75, COD 30 → 50, N-NH4 0.2 → 100:
    group IV = 325/4 = 81.25. Coliform 5000 → 75, E. coli 50 → 75: group V = 75.
    VN_WQI = 1 × 0.3162 × 0.8660 × (81.25² × 75)^(1/3) = 0.27386 × 79.125 = 21.67 → 22.
    """
    values = {
        "pH": 7.0,
        "aldrin": 0.05,
        "BHC": 0.03,
        "Cd": 0.005,
        "Zn": 0.5,
        "O2": 8.17565625,
        "temperature": 25.0,
        "BOD": 6.0,
        "COD": 30.0,
        "NH4": 0.2,
        "coliform": 5000.0,
        "ecoli": 50.0,
    }
    result = vn_wqi(values)
    assert result.groups == pytest.approx(
        {"I": 100, "II": math.sqrt(1000), "III": math.sqrt(7500), "IV": 81.25, "V": 75}
    )
    expected = 1.0 * math.sqrt(1000) / 100 * math.sqrt(7500) / 100 * (81.25**2 * 75) ** (1 / 3)
    assert expected == pytest.approx(21.67, abs=0.01)
    assert result.index == 22
    assert result.wqi_class.key == "bad"
    assert result.missing == ()
    # Without the pesticides the same water scores 69 (medium).
    no_pesticides = {k: v for k, v in values.items() if k not in ("aldrin", "BHC")}
    result = vn_wqi(no_pesticides)
    assert "II" not in result.groups
    assert result.missing == ("group II",)
    assert result.index == round(math.sqrt(7500) / 100 * (81.25**2 * 75) ** (1 / 3)) == 69
    assert result.wqi_class.key == "medium"


#: Two samples from tranxuanthuy/vnwqi backend/tests/test_wqi_calculation.py (station
#: QLPH012016, 29/2/2016 and 15/3/2016). Their expected VN_WQI, 20 and 34, come from
#: their default aggregation √(WQI_IV × WQI_V), and their heptachlor columns are not
#: used (a key mismatch), so they are left out here too.
VNWQI_SAMPLES = [
    (
        {"pH": 8.88, "aldrin": 0.021, "BHC": 0.048, "dieldrin": 0.047, "DDTs": 0.052,
         "As": 0.021, "Cd": 0.004, "Pb": 0.009, "Cr6": 0.007, "Cu": 0.001, "Zn": 0.074,
         "Hg": 0.002, "O2": 7.095, "temperature": 25, "BOD": 8.28, "COD": 23.253,
         "TOC": 17.855, "NH4": 0.163, "NO3": 0.93, "NO2": 0.18, "PO4": 0,
         "coliform": 1300, "ecoli": 92},
        20,
    ),
    (
        {"pH": 8.3, "aldrin": 0.022, "BHC": 0.021, "dieldrin": 0.019, "DDTs": 0.019,
         "As": 0.021, "Cd": 0.006, "Pb": 0.009, "Cr6": 0.008, "Cu": 0.001, "Zn": 0.019,
         "Hg": 0.002, "O2": 6.913, "temperature": 25, "BOD": 8.3, "COD": 20.133,
         "TOC": 16.598, "NH4": 0.53, "NO3": 0.88, "NO2": 0.2, "PO4": 0,
         "coliform": 1100, "ecoli": 24},
        34,
    ),
]  # fmt: skip


@pytest.mark.parametrize(("values", "their_index"), VNWQI_SAMPLES)
def test_sub_indices_agree_with_an_independent_implementation(
    values: dict[str, float], their_index: int
) -> None:
    result = vn_wqi(values)
    g = result.groups
    # Their aggregation, from our group values, gives their published numbers: the
    # sub-index tables and group means agree.
    theirs = g["I"] / 100 * g["II"] / 100 * g["III"] / 100 * math.sqrt(g["IV"] * g["V"])
    assert round(theirs) == their_index
    # The decision's cube-root form weighs group IV double.
    ours = g["I"] / 100 * g["II"] / 100 * g["III"] / 100 * (g["IV"] ** 2 * g["V"]) ** (1 / 3)
    assert result.index == round(ours)


def test_groups_ii_and_iii_left_out_when_not_measured() -> None:
    values = {"pH": 6.0, "O2_percent": 100, "BOD": 4, "COD": 10, "coliform": 2500}
    result = vn_wqi(values)
    assert set(result.groups) == {"I", "IV", "V"}
    assert result.missing == ("group II", "group III")
    assert result.index == 100
    # One failing pesticide brings group II, and the index, to 10 %.
    result = vn_wqi({**values, "DDTs": 1.5})
    assert result.groups["II"] == pytest.approx(10)
    assert result.index == 10
    assert result.missing == ("group III",)


def test_without_group_v_group_iv_stands_alone() -> None:
    values = {"pH": 7, "O2_percent": 100, "BOD": 15, "COD": 30, "As": 0.01}
    result = vn_wqi(values)
    assert "V" not in result.groups
    assert result.groups["IV"] == pytest.approx(200 / 3)
    assert result.index == 67
    assert result.missing == ("group II", "group V")


def test_rounding_is_half_up() -> None:
    # pH 8.875 → 62.5; everything else 100: 62.5 rounds to 63 (not to even 62).
    values = {"pH": 8.875, "aldrin": 0.01, "BOD": 1, "COD": 1, "NH4": 0.1}
    assert vn_wqi(values).index == 63


def test_simulator_station_payload() -> None:
    """The simulator's river stations send pH, O2, temperature, BOD, COD, NH4, PO4 and
    coliform: groups I, IV (5 parameters) and V."""
    values = {"pH": 7.1, "O2": 5.2, "temperature": 29.5, "BOD": 4.5, "COD": 14.0,
              "NH4": 0.35, "PO4": 0.12, "coliform": 4300.0, "salinity": 0.2}  # fmt: skip
    result = vn_wqi(values)
    assert isinstance(result, WqiResult)
    assert set(result.groups) == {"I", "IV", "V"}
    assert 0 <= result.index <= 100
    assert result.wqi_class == wqi_class(result.index)


@pytest.mark.parametrize(
    ("values", "says"),
    [
        # Two group-IV parameters only.
        ({"pH": 7, "BOD": 4, "COD": 10, "coliform": 10, "As": 0.001}, "group IV"),
        # No group IV at all.
        ({"pH": 7, "coliform": 10, "As": 0.001}, "group IV"),
        # Group IV complete but only two groups.
        ({"BOD": 4, "COD": 10, "NH4": 0.1, "coliform": 10}, "3 of the 5 groups"),
        ({"BOD": 4, "COD": 10, "NH4": 0.1}, "3 of the 5 groups"),
        # DO without a temperature does not count, and the error says so.
        ({"pH": 7, "O2": 7.0, "BOD": 4, "COD": 10, "coliform": 10}, "temperature"),
        ({}, "group IV"),
    ],
)
def test_minimum_data_rule(values: dict[str, float], says: str) -> None:
    with pytest.raises(NotEnoughData) as caught:
        vn_wqi(values)
    assert says in str(caught.value)
    assert caught.value.missing
    assert isinstance(caught.value, ValueError)


def test_unknown_non_finite_and_invalid_values_are_ignored() -> None:
    # The entity's other attributes come along, texts included.
    values: dict[str, object] = {
        "pH": 7.0, "BOD": 4.0, "COD": 10.0, "NH4": 0.1, "coliform": 100.0,
        "salinity": 12.0, "TSS": 500.0, "name": "Cầu Quang Trung",
        "TOC": math.nan, "NO3": math.inf, "PO4": -0.1, "As": True,
    }  # fmt: skip
    result = vn_wqi(values)  # type: ignore[arg-type]
    assert set(result.sub_indices) == {"pH", "BOD", "COD", "NH4", "coliform"}
    assert result.index == 100


@pytest.mark.parametrize(
    ("index", "key"),
    [(100, "very-good"), (91, "very-good"), (90, "good"), (76, "good"), (75, "medium"),
     (51, "medium"), (50, "poor"), (26, "poor"), (25, "bad"), (10, "bad"),
     (9, "very-bad"), (0, "very-bad")],
)  # fmt: skip
def test_class_boundaries(index: int, key: str) -> None:
    assert wqi_class(index).key == key


@pytest.mark.parametrize("index", [-1, 101])
def test_class_out_of_range(index: int) -> None:
    with pytest.raises(ValueError):
        wqi_class(index)


def test_classes_names_colours_and_uses() -> None:
    rgb = {cls.key: tuple(int(cls.color[i : i + 2], 16) for i in (1, 3, 5)) for cls in CLASSES}
    assert rgb == {
        "very-good": (51, 51, 255),
        "good": (0, 228, 0),
        "medium": (255, 255, 0),
        "poor": (255, 126, 0),
        "bad": (255, 0, 0),
        "very-bad": (126, 0, 35),
    }
    names = [cls.name_vi for cls in CLASSES]
    assert names == ["Rất tốt", "Tốt", "Trung bình", "Xấu", "Kém", "Ô nhiễm rất nặng"]
    assert wqi_class(95).use_vi == "Sử dụng tốt cho mục đích cấp nước sinh hoạt"
    # The bands tile 0–100 with no gap or overlap.
    covered = sorted(i for cls in CLASSES for i in range(cls.low, cls.high + 1))
    assert covered == list(range(101))
    assert all(cls.name_en and cls.use_en for cls in CLASSES)
