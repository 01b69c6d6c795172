"""VN_AQI and US EPA AQI over real hourly PM2.5 from Ho Chi Minh City (smartcity aqi module).

    .venv/bin/python benchmarks/air_quality_real.py
    .venv/bin/python benchmarks/air_quality_real.py --data /path/to/hcmc-pm25-hourly.csv

Data: ../shared/data/air/hcmc-pm25-hourly.csv (see ../shared/data/README.md), the U.S.
Department of State AirNow/StateAir PM2.5 series of the Ho Chi Minh City consulate (public
domain) as cleaned by erich-hs/AirQuality (no licence: the file is read in place, never copied
into this repository). Columns: Site,Parameter,Date,Year,Month,Day,Hour,AQI,RawConc,ConcUnit,
Duration,QCName,AQICat,NowCastConc. It covers December 2016–2020 and 1–23 February 2021.

* Only rows with QCName "Valid" count; "Invalid" and "Missing" hours are missing (None), as
  are the hours absent from the file (the gaps between the covered months).
* Hourly VN_AQI (QĐ 1459/QĐ-TCMT, 2.2.1): PM2.5 NowCast over the 12 hours ending at the row's
  hour (newest first, missing hours skipped, at least 2 of the 3 newest hours), then Bảng 2.
* Daily VN_AQI (2.2.2): the decision's day runs from the hour labelled 01:00 to the hour
  labelled 00:00 the next day; the file's hour labels are taken as that label. 24-hour mean
  with the module's minimum-data rule (18 of 24 hours).
* US EPA AQI (2024 PM2.5 breakpoints) from the same NowCast, and also from the file's own
  NowCastConc column. The file's NowCast is AirNow's (US EPA rules: integer µg/m³ here, and
  the cleaning filled some hours); the decision's NowCast has the same weights but its own
  missing-data rule, so the two are compared (MAE etc.).
* The file's own AQI column (the pre-2024 US EPA scale) is tabulated for comparison; rows
  whose AQICat is "N/A" are counted as not computable.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from smartcity.domains.environment.aqi import (  # noqa: E402
    LEVELS,
    US_LEVELS,
    nowcast,
    us_aqi,
    us_level_of,
    vn_daily_aqi,
    vn_hourly_aqi,
)

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "air" / "hcmc-pm25-hourly.csv"
NOT_COMPUTABLE = "n/a"


@dataclass(frozen=True)
class Row:
    hour: int  # hours since the epoch, the file's local label read as UTC
    raw: float | None  # RawConc when QCName is Valid
    qc: str
    file_nowcast: float | None
    file_aqi: int | None  # None when AQICat is N/A


def read(path: Path) -> list[Row]:
    rows: list[Row] = []
    with path.open(newline="") as f:
        for rec in csv.DictReader(f):
            stamp = datetime(
                int(rec["Year"]), int(rec["Month"]), int(rec["Day"]), int(rec["Hour"]), tzinfo=UTC
            )
            qc = rec["QCName"].strip()
            raw = float(rec["RawConc"]) if qc == "Valid" and rec["RawConc"] else None
            nc = rec["NowCastConc"].strip()
            cat = rec["AQICat"].strip()
            rows.append(
                Row(
                    hour=int(stamp.timestamp()) // 3600,
                    raw=raw,
                    qc=qc,
                    file_nowcast=float(nc) if nc not in ("", "-999") else None,
                    file_aqi=int(rec["AQI"]) if cat != "N/A" and rec["AQI"] else None,
                )
            )
    return rows


def decision_day(hour: int) -> date:
    """The decision's day of an hour label: 01:00 … 00:00 (the next day)."""
    return (datetime.fromtimestamp((hour - 1) * 3600, UTC)).date()


def table(counts: list[Counter[str]], totals: list[int], headers: list[str]) -> list[str]:
    names = [f"{vn.name_vi} · {us.name_en}" for vn, us in zip(LEVELS, US_LEVELS, strict=True)]
    keys = [lv.key for lv in LEVELS]
    head = "| Category (VN · US) | " + " | ".join(f"{h} | %" for h in headers) + " |"
    lines = [head, "|---|" + "---:|---:|" * len(headers)]
    for label, key in [*zip(names, keys, strict=True), ("not computable", NOT_COMPUTABLE)]:
        cells = []
        for count, total in zip(counts, totals, strict=True):
            n = count.get(key, 0)
            cells.append(f"{n:,} | {100 * n / total:.1f}" if total else "0 | –")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| total | " + " | ".join(f"{t:,} | 100.0" for t in totals) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if not args.data.exists():
        print(f"data file not found: {args.data}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    rows = read(args.data)
    values = {r.hour: r.raw for r in rows}

    vn_hourly: Counter[str] = Counter()
    us_ours: Counter[str] = Counter()
    us_file: Counter[str] = Counter()
    file_col: Counter[str] = Counter()
    diffs: list[float] = []
    after_gap = 0  # not computable because the previous hours are absent from the file
    for r in rows:
        series = [values.get(r.hour - k) for k in range(12)]
        vn = vn_hourly_aqi({"pm25": series})
        vn_hourly[vn.level.key if vn else NOT_COMPUTABLE] += 1
        if vn is None and r.hour - 1 not in values and r.hour - 2 not in values:
            after_gap += 1
        nc = nowcast(series)
        us = us_aqi({"pm25": nc}) if nc is not None else None
        us_ours[us.level.key if us else NOT_COMPUTABLE] += 1
        us_f = us_aqi({"pm25": r.file_nowcast}) if r.file_nowcast is not None else None
        us_file[us_f.level.key if us_f else NOT_COMPUTABLE] += 1
        file_col[us_level_of(r.file_aqi).key if r.file_aqi is not None else NOT_COMPUTABLE] += 1
        if nc is not None and r.file_nowcast is not None:
            diffs.append(nc - r.file_nowcast)

    days: dict[date, dict[int, float | None]] = {}
    for r in rows:
        days.setdefault(decision_day(r.hour), {})[r.hour] = r.raw
    vn_daily: Counter[str] = Counter()
    for day, hours in days.items():
        last = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) // 3600 + 24
        series = [hours.get(last - k) for k in range(24)]
        result = vn_daily_aqi({"pm25": series})
        vn_daily[result.level.key if result else NOT_COMPUTABLE] += 1
    elapsed = time.perf_counter() - started

    qc = Counter(r.qc for r in rows)
    first = datetime.fromtimestamp(rows[0].hour * 3600, UTC)
    last_row = datetime.fromtimestamp(rows[-1].hour * 3600, UTC)
    span_hours = rows[-1].hour - rows[0].hour + 1
    print(f"# VN_AQI and US EPA AQI on {args.data.name}\n")
    print(
        f"{len(rows):,} hourly rows, {first:%Y-%m-%d %H:%M} to {last_row:%Y-%m-%d %H:%M} "
        f"({span_hours:,} hours in the span, the rest are gaps); QCName: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(qc.items()))
        + f"; {len(days):,} decision days (01:00–00:00) with at least one row.\n"
    )
    print(
        "\n".join(
            table(
                [vn_hourly, vn_daily, us_ours, us_file, file_col],
                [len(rows), len(days), len(rows), len(rows), len(rows)],
                [
                    "VN hourly (h)",
                    "VN daily (d)",
                    "US 2024, our NowCast (h)",
                    "US 2024, file NowCast (h)",
                    "file AQI column (h)",
                ],
            )
        )
    )
    short_days = vn_daily[NOT_COMPUTABLE]
    print(
        f"\nNot computable: {vn_hourly[NOT_COMPUTABLE]:,} hours without a NowCast (fewer than 2 of "
        f"the 3 newest hours): {after_gap} first hours after a gap in the file, the rest "
        f"because of Invalid/Missing hours; {short_days} days with fewer than 18 valid hours."
    )
    n = len(diffs)
    if n:
        mae = sum(abs(d) for d in diffs) / n
        bias = sum(diffs) / n
        worst = max(abs(d) for d in diffs)
        within1 = sum(abs(d) <= 1 for d in diffs) / n
        within5 = sum(abs(d) <= 5 for d in diffs) / n
        print(
            "\nNowCast, ours (QĐ 1459) minus the file's NowCastConc (US EPA, integer µg/m³), "
            "hours where both exist:\n"
        )
        print("| hours | MAE µg/m³ | mean bias | max abs diff | within 1 µg/m³ | within 5 µg/m³ |")
        print("|---:|---:|---:|---:|---:|---:|")
        print(
            f"| {n:,} | {mae:.2f} | {bias:+.2f} | {worst:.1f} | {100 * within1:.1f} % "
            f"| {100 * within5:.1f} % |"
        )
    print(f"\nComputed in {elapsed:.2f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
