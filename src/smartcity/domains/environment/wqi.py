"""Vietnam's water quality index VN_WQI (Quyết định 1460/QĐ-TCMT, 12/11/2019).

The Vietnam Environment Administration's technical guideline for computing and publishing
the index (it replaced Quyết định 879/QĐ-TCMT of 2011). Pure computation, no I/O.

Inputs are keyed by FIWARE Smart Data Model ``WaterQualityObserved`` attribute names where
one exists; unknown keys (the entity's other attributes), non-finite, boolean and negative
values are ignored. Units are those of the decision's tables (QCVN 08-MT:2015/BTNMT units):

======================  =========================================  ========  =====
key                     parameter                                  unit      group
======================  =========================================  ========  =====
``pH``                  pH                                         –         I
``aldrin``              Aldrin                                     µg/L      II
``BHC``                 Benzene hexachloride                       µg/L      II
``dieldrin``            Dieldrin                                   µg/L      II
``DDTs``                DDTs (p,p'-DDT, p,p'-DDD, p,p'-DDE)        µg/L      II
``heptachlor``          Heptachlor & Heptachlor epoxide (sum)      µg/L      II
``As`` ``Cd`` ``Pb``    arsenic, cadmium, lead                     mg/L      III
``Cr6``                 hexavalent chromium Cr6+                   mg/L      III
``Cu`` ``Zn`` ``Hg``    copper, zinc, mercury                      mg/L      III
``O2``                  dissolved oxygen (needs ``temperature``)   mg/L      IV
``temperature``         water temperature, for DO saturation       °C        –
``O2_percent``          DO as % saturation (used when no ``O2``)   %         IV
``BOD``                 BOD5                                       mg/L      IV
``COD``                 COD                                        mg/L      IV
``TOC``                 total organic carbon                       mg/L      IV
``NH4``                 ammonium as N (N-NH4)                      mg/L      IV
``NO3``                 nitrate as N (N-NO3)                       mg/L      IV
``NO2``                 nitrite as N (N-NO2)                       mg/L      IV
``PO4``                 phosphate as P (P-PO4)                     mg/L      IV
``coliform``            total coliform                             MPN/100mL V
``ecoli``               E. coli                                    MPN/100mL V
======================  =========================================  ========  =====

Method (the decision's steps):

1. Each parameter's sub-index WQI_SI (10…100). Pollutants use the decision's breakpoint
   tables BP_i → q_i (q = 100, 75, 50, 25, 10) with linear interpolation between rows
   (its formula 1); a value on a breakpoint gets that row's q. Pesticides and N-NO2 have a
   single limit: at or below it 100, above it 10. pH and DO (as % saturation, formula 2 on
   the rising side) are 100 inside their good band, 10 outside the extreme breakpoints and
   interpolated in between.
2. Group values: WQI_I = WQI_pH; WQI_II and WQI_III are the geometric means of their
   sub-indices; WQI_IV and WQI_V the arithmetic means.
3. VN_WQI = WQI_I/100 × WQI_II/100 × WQI_III/100 × [WQI_IV² × WQI_V]^(1/3), a group I–III
   factor left out when that group was not measured, and WQI_IV alone in place of the
   bracket when group V was not measured. Rounded to an integer.

Minimum data (the decision's rule): at least 3 of the 5 groups, group IV among them with at
least 3 of its 8 parameters; otherwise :class:`NotEnoughData`.

Sources checked (no copy of the decision's own text was reachable from here, so every row
below was cross-checked between independent public implementations of 1460):
tranxuanthuy/vnwqi (Python), a web VN_WQI calculator in JavaScript, a provincial monitoring
system's web2py constants (``WQI_BP``/``OP_1`` tables with the decision's ``<``/``≤``
bounds), and published class tables (vienthuysan2.org.vn bulletins citing 1460;
tapchimoitruong.vn "Những điểm mới trong Hướng dẫn tính toán VN_WQI"; Sustainable
Environment Research 32:20, 2022, Table 2). Where they disagree the choice is commented at
the row.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# --- classes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WqiClass:
    """One band of the decision's six-level scale, with its colour and suitable use."""

    key: str
    low: int
    high: int
    name_vi: str
    name_en: str
    color: str
    use_vi: str
    use_en: str


#: The decision's six-level scale: ranges, names, RGB colours and suitable uses.
#: 26–50 is "Xấu" and 10–25 "Kém" in the decision (as in the VEA's and the fisheries
#: monitoring centres' bulletins); a few dashboards swap them or say "Ô nhiễm nặng" for
#: 10–25, following the older 879 wording. The keys follow the brief's severity order.
CLASSES: tuple[WqiClass, ...] = (
    WqiClass(
        "very-good", 91, 100, "Rất tốt", "Very good", "#3333ff",
        "Sử dụng tốt cho mục đích cấp nước sinh hoạt",
        "Good for domestic water supply",
    ),
    WqiClass(
        "good", 76, 90, "Tốt", "Good", "#00e400",
        "Sử dụng cho mục đích cấp nước sinh hoạt nhưng cần các biện pháp xử lý phù hợp",
        "Usable for domestic water supply with appropriate treatment",
    ),
    WqiClass(
        "medium", 51, 75, "Trung bình", "Medium", "#ffff00",
        "Sử dụng cho mục đích tưới tiêu và các mục đích tương đương khác",
        "Usable for irrigation and similar purposes",
    ),
    WqiClass(
        "poor", 26, 50, "Xấu", "Poor", "#ff7e00",
        "Sử dụng cho giao thông thủy và các mục đích tương đương khác",
        "Usable for waterway transport and similar purposes",
    ),
    WqiClass(
        "bad", 10, 25, "Kém", "Bad", "#ff0000",
        "Nước ô nhiễm nặng, cần các biện pháp xử lý trong tương lai",
        "Heavily polluted water; treatment will be needed",
    ),
    WqiClass(
        "very-bad", 0, 9, "Ô nhiễm rất nặng", "Very heavily polluted", "#7e0023",
        "Nước nhiễm độc, cần có biện pháp khắc phục, xử lý",
        "Toxic water; remediation and treatment needed",
    ),
)  # fmt: skip


def wqi_class(index: int) -> WqiClass:
    """The class of a (rounded) VN_WQI value, 0–100."""
    for cls in CLASSES:
        if cls.low <= index <= cls.high:
            return cls
    raise ValueError(f"VN_WQI must be an integer from 0 to 100, got {index!r}")


# --- results and errors ------------------------------------------------------------------


@dataclass(frozen=True)
class WqiResult:
    """A computed VN_WQI.

    `groups` holds the value each measured group contributed ("I"…"V", 0–100 scale);
    `sub_indices` each parameter's WQI_SI by input key (DO under "O2"); `missing` what was
    left out of the full formula: the groups not measured ("group II"…) and, when "O2" came
    without a "temperature", "temperature". Empty when all five groups were measured.
    """

    index: int
    wqi_class: WqiClass
    groups: dict[str, float]
    sub_indices: dict[str, float]
    missing: tuple[str, ...]


class NotEnoughData(ValueError):
    """The readings fail the decision's minimum-data rule; `missing` says what is lacking."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = tuple(missing)
        super().__init__("not enough data for VN_WQI: " + "; ".join(self.missing))


# --- dissolved oxygen --------------------------------------------------------------------


def do_saturation(temperature_c: float) -> float:
    """Saturated dissolved oxygen (mg/L) in fresh water at `temperature_c` (the decision's
    formula): 14.652 − 0.41022·T + 0.0079910·T² − 0.000077774·T³."""
    t = temperature_c
    return 14.652 - 0.41022 * t + 0.0079910 * t * t - 0.000077774 * t * t * t


def do_percent(do_mg_l: float, temperature_c: float) -> float:
    """Dissolved oxygen as % of saturation at the water temperature."""
    return do_mg_l / do_saturation(temperature_c) * 100.0


# --- sub-index tables ----------------------------------------------------------------------

#: q_i of the pollutant tables' five rows.
Q_ROWS: tuple[float, ...] = (100.0, 75.0, 50.0, 25.0, 10.0)

#: BP_i per pollutant for q = 100, 75, 50, 25, 10 (the decision's tables for the metals
#: and for groups IV and V). Reading of the rows (the decision's <, ≤, ≥, > marks):
#: - first row "≤ BP" gives 100; where the first two rows repeat a value (N-NH4, Cd, Pb,
#:   Hg: the QCVN 08 A1 and A2 limits coincide) the first row is "< BP", so a value below
#:   it is 100 and a value on it 75;
#: - last row "≥ BP" gives 10, interpolating 25→10 from row 4; where rows 4 and 5 repeat a
#:   value (As, N-NO3, coliform, E. coli) the last row is "> BP": 25 on it, 10 above.
BREAKPOINTS: dict[str, tuple[float, float, float, float, float]] = {
    # Group III, mg/L.
    "As": (0.01, 0.02, 0.05, 0.1, 0.1),
    "Cd": (0.005, 0.005, 0.008, 0.01, 0.1),
    "Pb": (0.02, 0.02, 0.04, 0.05, 0.5),
    # Row 4 is 0.05: one public JS calculator drops it (0.01/0.02/0.04/0.1), which turns
    # the 0.04–0.1 stretch into 50→25; the decision (and the other sources) have 0.05 → 25
    # and 0.1 → 10.
    "Cr6": (0.01, 0.02, 0.04, 0.05, 0.1),
    # First row "≤ 0.1" (one implementation reads "< 0.1"; the decision's mark is ≤).
    "Cu": (0.1, 0.2, 0.5, 1.0, 2.0),
    "Zn": (0.5, 1.0, 1.5, 2.0, 3.0),
    # Hg: "< 0.001" gives 100, 0.001 gives 75 (tranxuanthuy/vnwqi gives 100 at 0.001; the
    # decision's first row is strict, like Cd and Pb).
    "Hg": (0.001, 0.001, 0.0015, 0.002, 0.01),
    # Group IV, mg/L.
    "BOD": (4.0, 6.0, 15.0, 25.0, 50.0),
    "COD": (10.0, 15.0, 30.0, 50.0, 150.0),
    "TOC": (4.0, 6.0, 15.0, 25.0, 50.0),
    "NH4": (0.3, 0.3, 0.6, 0.9, 5.0),
    # N-NO3 row 3 is 50 (tranxuanthuy/vnwqi's table has a typo, 52); another script shifts
    # the column by a row (0 → 100, 2 → 75…) and is not followed.
    "NO3": (2.0, 5.0, 10.0, 15.0, 15.0),
    "PO4": (0.1, 0.2, 0.3, 0.5, 4.0),
    # Group V, MPN/100 mL.
    "coliform": (2500.0, 5000.0, 7500.0, 10000.0, 10000.0),
    "ecoli": (20.0, 50.0, 100.0, 200.0, 200.0),
}

#: Single-limit parameters: at or below the limit 100, above it 10. Pesticides in µg/L
#: (the QCVN 08-MT:2015 A1 limits), N-NO2 in mg/L.
LIMITS: dict[str, float] = {
    "aldrin": 0.1,
    "BHC": 0.02,
    "dieldrin": 0.1,
    "DDTs": 1.0,
    "heptachlor": 0.2,
    "NO2": 0.05,
}

#: pH: 100 from 6 to 8.5, 50 at 5.5 and at 9, 10 below 5.5 or above 9.
PH_BREAKPOINTS: tuple[tuple[float, float], ...] = ((5.5, 50.0), (6.0, 100.0))
PH_HIGH_BREAKPOINTS: tuple[tuple[float, float], ...] = ((8.5, 100.0), (9.0, 50.0))

#: DO % saturation (the decision's DO table): 100 from 88 to 112 %, 10 below 20 % or above
#: 200 %. (Quyết định 879 gave 1 outside; 1460 gives 10, like pH. One monitoring system's
#: constants still carry the 879 value 1 for DO while their comments say 10.)
DO_LOW_BREAKPOINTS: tuple[tuple[float, float], ...] = (
    (20.0, 25.0), (50.0, 50.0), (75.0, 75.0), (88.0, 100.0),
)  # fmt: skip
DO_HIGH_BREAKPOINTS: tuple[tuple[float, float], ...] = (
    (112.0, 100.0), (125.0, 75.0), (150.0, 50.0), (200.0, 25.0),
)  # fmt: skip

#: Lowest sub-index (outside every band).
Q_MIN = 10.0

#: The parameters of each group, by input key ("O2" stands for DO).
GROUPS: dict[str, tuple[str, ...]] = {
    "I": ("pH",),
    "II": ("aldrin", "BHC", "dieldrin", "DDTs", "heptachlor"),
    "III": ("As", "Cd", "Pb", "Cr6", "Cu", "Zn", "Hg"),
    "IV": ("O2", "BOD", "COD", "TOC", "NH4", "NO3", "NO2", "PO4"),
    "V": ("coliform", "ecoli"),
}

#: Units of the inputs (see the module docstring).
UNITS: dict[str, str] = {
    "pH": "",
    **{name: "µg/L" for name in GROUPS["II"]},
    **{name: "mg/L" for name in GROUPS["III"]},
    **{name: "mg/L" for name in GROUPS["IV"]},
    "O2_percent": "%",
    "temperature": "°C",
    "coliform": "MPN/100mL",
    "ecoli": "MPN/100mL",
}

#: Minimum-data rule: groups overall, and parameters of group IV.
MIN_GROUPS = 3
MIN_GROUP_IV = 3


def _interpolate(x: float, x0: float, q0: float, x1: float, q1: float) -> float:
    return q0 + (q1 - q0) * (x - x0) / (x1 - x0)


def _pollutant(bps: Sequence[float], value: float) -> float:
    """Sub-index from a five-row breakpoint table (higher concentration, lower q)."""
    if bps[4] == bps[3]:
        if value > bps[4]:
            return Q_ROWS[4]
    elif value >= bps[4]:
        return Q_ROWS[4]
    if value < bps[0]:
        return Q_ROWS[0]
    if value == bps[0]:
        return Q_ROWS[1] if bps[1] == bps[0] else Q_ROWS[0]
    for i in range(4):
        lo, hi = bps[i], bps[i + 1]
        if lo < value <= hi:
            return _interpolate(value, lo, Q_ROWS[i], hi, Q_ROWS[i + 1])
    raise AssertionError("unreachable")  # pragma: no cover


def _banded(
    value: float,
    low: Sequence[tuple[float, float]],
    high: Sequence[tuple[float, float]],
) -> float:
    """pH and DO%: 10 outside [low[0], high[-1]], 100 inside [low[-1], high[0]], linear
    between breakpoints on either side."""
    if value < low[0][0] or value > high[-1][0]:
        return Q_MIN
    if low[-1][0] <= value <= high[0][0]:
        return 100.0
    side = low if value < low[-1][0] else high
    for (x0, q0), (x1, q1) in itertools.pairwise(side):
        if x0 <= value <= x1:
            return _interpolate(value, x0, q0, x1, q1)
    raise AssertionError("unreachable")  # pragma: no cover


def sub_index(parameter: str, value: float) -> float:
    """WQI_SI of one parameter (input key; DO as "O2_percent", % saturation)."""
    if not math.isfinite(value):
        raise ValueError(f"{parameter}: value must be finite, got {value!r}")
    if parameter == "pH":
        return _banded(value, PH_BREAKPOINTS, PH_HIGH_BREAKPOINTS)
    if value < 0:
        raise ValueError(f"{parameter}: a concentration cannot be negative, got {value!r}")
    if parameter == "O2_percent":
        return _banded(value, DO_LOW_BREAKPOINTS, DO_HIGH_BREAKPOINTS)
    if parameter in BREAKPOINTS:
        return _pollutant(BREAKPOINTS[parameter], value)
    if parameter in LIMITS:
        return 100.0 if value <= LIMITS[parameter] else Q_MIN
    if parameter == "O2":
        raise ValueError("O2 in mg/L needs the temperature: use do_percent() and 'O2_percent'")
    raise ValueError(f"not a VN_WQI parameter: {parameter!r}")


# --- the index ---------------------------------------------------------------------------


def _usable(values: Mapping[str, float], key: str) -> float | None:
    """The value under `key` when it is a finite, non-negative number (temperature and pH
    may be any finite number)."""
    value = values.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    number = float(value)
    if not math.isfinite(number):
        return None
    if number < 0 and key not in ("temperature", "pH"):
        return None
    return number


def _geometric_mean(values: Sequence[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def vn_wqi(values: Mapping[str, float]) -> WqiResult:
    """VN_WQI of one set of readings (keys and units in the module docstring).

    Raises :class:`NotEnoughData` when fewer than 3 groups, or fewer than 3 group-IV
    parameters, are usable.
    """
    subs: dict[str, float] = {}
    missing: list[str] = []
    for names in GROUPS.values():
        for name in names:
            if name == "O2":
                continue
            value = _usable(values, name)
            if value is not None:
                subs[name] = sub_index(name, value)
    do_mg_l = _usable(values, "O2")
    temperature = _usable(values, "temperature")
    if do_mg_l is not None and temperature is not None:
        subs["O2"] = sub_index("O2_percent", do_percent(do_mg_l, temperature))
    elif (percent := _usable(values, "O2_percent")) is not None:
        subs["O2"] = sub_index("O2_percent", percent)
    elif do_mg_l is not None:
        missing.append("temperature")

    by_group = {g: [subs[n] for n in names if n in subs] for g, names in GROUPS.items()}
    present = [g for g, sis in by_group.items() if sis]
    lacking: list[str] = []
    if len(by_group["IV"]) < MIN_GROUP_IV:
        got = ", ".join(n for n in GROUPS["IV"] if n in subs) or "none"
        lacking.append(f"group IV needs at least {MIN_GROUP_IV} of its 8 parameters (got {got})")
    if len(present) < MIN_GROUPS:
        lacking.append(
            f"at least {MIN_GROUPS} of the 5 groups are needed (got {', '.join(present) or 'none'})"
        )
    if lacking:
        raise NotEnoughData(lacking + [f"{m} (for O2)" for m in missing])

    groups: dict[str, float] = {}
    if by_group["I"]:
        groups["I"] = by_group["I"][0]
    for g in ("II", "III"):
        if by_group[g]:
            groups[g] = _geometric_mean(by_group[g])
    groups["IV"] = sum(by_group["IV"]) / len(by_group["IV"])
    if by_group["V"]:
        groups["V"] = sum(by_group["V"]) / len(by_group["V"])

    total = 1.0
    for g in ("I", "II", "III"):
        if g in groups:
            total *= groups[g] / 100.0
    if "V" in groups:
        # The decision's formula: [WQI_IV² × WQI_V]^(1/3). Two public calculators default
        # to √(WQI_IV × WQI_V) and offer this cube root as a "weighted" option; 1460 itself
        # (like 879 before it, cube root of three factors) gives group IV double weight.
        total *= (groups["IV"] ** 2 * groups["V"]) ** (1.0 / 3.0)
    else:
        total *= groups["IV"]
    index = _round_half_up(total)
    absent = tuple(f"group {g}" for g in GROUPS if g not in groups)
    return WqiResult(
        index=index,
        wqi_class=wqi_class(index),
        groups=groups,
        sub_indices=subs,
        missing=absent + tuple(missing),
    )
