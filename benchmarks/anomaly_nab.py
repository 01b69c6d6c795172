"""Evaluate smartcity.core.alerts.anomaly on the labelled NAB realTraffic series.

    .venv/bin/python benchmarks/anomaly_nab.py              # defaults, realTraffic
    .venv/bin/python benchmarks/anomaly_nab.py --sweep      # + sensitivity to the tunables
    .venv/bin/python benchmarks/anomaly_nab.py --dirs realTraffic,realKnownCause

Data: the NAB copy in ../shared/data/nab (see ../shared/data/README.md; NAB is MIT,
© Numenta): `<dir>/<file>.csv` with `timestamp,value`, and `labels/combined_windows.json`
mapping "realTraffic/speed_6005.csv" to its labelled anomaly windows [[start, end], ...].

Every series is fed to a fresh SeriesDetector in file order, one reading at a time, exactly
as the rules engine would (streaming, no look-ahead). Per file and in total it reports:

* Windows / detected / recall: a labelled window is detected when at least one alarm falls
  inside it (inclusive of both ends). Only windows that reach past NAB's probationary period
  (the first 15% of each file, at most 750 rows) are counted, and alarms inside that period
  are ignored, as NAB does.
* FP alarms: alarms after the probationary period outside every window. Each one is a
  separate alert (the detector's cooldown already merges bursts), so none are grouped.
* Precision = detected windows / (detected windows + FP alarms).
* NAB: the standard-profile score (A_TP = 1, A_FP = -0.11, A_FN = -1), a reimplementation of
  numenta/NAB nab/sweeper.py (calcSweepScore + calcScoreByThreshold at a fixed threshold):
  the first (i.e. best) detection in a window scores scaledSigmoid(position) / scaledSigmoid(-1)
  with position = -(right - i + 1) / width, a window without a detection scores -1, and a
  false positive scores 0.11 * scaledSigmoid(distance after the previous window / (width - 1)),
  -0.11 before any window. Normalised as nab/runner.py normalize() does: 100 * (raw - null) /
  (perfect - null), where null is the score of no detections and perfect = the number of
  labelled windows. The per-file normalised column applies the same formula to one file;
  NAB itself publishes only the corpus-level number.

NAB chooses each detector's threshold to maximise its score over the whole 58-file corpus;
here the detector's thresholds are its fixed defaults (see benchmarks/README.md for how they
were chosen and for the sensitivity table).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from smartcity.core.alerts.anomaly import DetectorConfig, SeriesDetector  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nab"

# NAB's standard profile (config/profiles.json) and probation (runner.py, sweeper.py).
TP_WEIGHT = 1.0
FP_WEIGHT = 0.11
FN_WEIGHT = 1.0
PROBATION_PERCENT = 0.15

# Published detectors on the same seven realTraffic files, for comparison. `raw` is the sum of
# their per-file standard-profile scores in numenta/NAB results/<name>/<name>_standard_scores.csv
# (the stored version named by `commit`), computed with the corpus-wide threshold NAB chose
# for them; `corpus` is that file's corpus total normalised, and `board` the NAB v1.1 README
# scoreboard value on all 58 files. Where corpus != board the stored file is from an older run.
REFERENCES: list[tuple[str, float, float, float, str]] = [
    # (name, raw realTraffic sum, corpus score of the stored file, scoreboard, commit)
    ("ARTime", 10.3195, 74.9, 74.9, "5a98e4f"),
    ("CAD OSE (contextOSE)", 11.0104, 69.9, 69.9, "059c782"),
    ("Numenta HTM (numenta)", 4.9637, 65.3, 70.5, "4b89baf"),
    ("Twitter ADVec", 2.1471, 47.1, 47.1, "38b9ff1"),
    ("Etsy Skyline (skyline)", 0.4364, 32.5, 35.7, "487c0f9"),
    ("Bayesian changepoint", -5.0081, 17.0, 17.7, "487c0f9"),
    ("Windowed Gaussian", -9.0708, 30.7, 39.6, "487c0f9"),
]


def scaled_sigmoid(position: float) -> float:
    """NAB's scaled sigmoid (nab/sweeper.py): +0.987 at -1, 0 at 0, -1 from 3 on."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


@dataclass
class Series:
    """One NAB data file with its labelled windows as row indices."""

    name: str
    at_s: list[float]
    values: list[float]
    windows: list[tuple[int, int]]


@dataclass
class FileResult:
    """Scores of one detector run on one series."""

    name: str
    rows: int
    windows: int
    detected: int
    alarms: int
    fp_alarms: int
    raw: float
    null: float
    perfect: float

    @property
    def normalised(self) -> float:
        """NAB normalisation applied to this file alone."""
        return normalise(self.raw, self.null, self.perfect)


def normalise(raw: float, null: float, perfect: float) -> float:
    """100 * (raw - null) / (perfect - null), as nab/runner.py normalize()."""
    return 100.0 * (raw - null) / (perfect - null)


def parse_ts(text: str) -> float:
    """NAB timestamp ('YYYY-MM-DD HH:MM:SS[.ffffff]') to unix seconds, read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def load(data_dir: Path, dirs: list[str]) -> list[Series]:
    """Read every CSV of the given NAB directories with its windows from the labels."""
    labels: dict[str, list[list[str]]] = json.loads(
        (data_dir / "labels" / "combined_windows.json").read_text()
    )
    out: list[Series] = []
    for sub in dirs:
        for path in sorted((data_dir / sub).glob("*.csv")):
            key = f"{sub}/{path.name}"
            if key not in labels:
                raise SystemExit(f"{key}: no entry in combined_windows.json")
            with path.open(newline="") as f:
                rows = list(csv.DictReader(f))
            stamps = [r["timestamp"] for r in rows]
            index = {parse_ts(t): i for i, t in enumerate(stamps)}
            windows = []
            for start, end in labels[key]:
                # NAB's window limits are timestamps of rows in the file.
                windows.append((index[parse_ts(start)], index[parse_ts(end)]))
            out.append(
                Series(
                    key, [parse_ts(t) for t in stamps], [float(r["value"]) for r in rows], windows
                )
            )
    return out


def run_detector(series: Series, config: DetectorConfig) -> list[int]:
    """Row indices at which the detector raises an alarm."""
    detector = SeriesDetector(config)
    observe = detector.observe
    pairs = zip(series.at_s, series.values, strict=True)
    return [i for i, (t, v) in enumerate(pairs) if observe(v, t).anomalous]


def nab_score(n: int, alarms: list[int], windows: list[tuple[int, int]]) -> float:
    """Raw NAB standard-profile score of binary detections (nab/sweeper.py at one threshold)."""
    probation = min(math.floor(PROBATION_PERCENT * n), PROBATION_PERCENT * 5000)
    max_tp = scaled_sigmoid(-1.0)
    # A window counts (as -A_FN until detected) only if some of its rows are scored.
    best = {w: -FN_WEIGHT for w, (_, end) in enumerate(windows) if end >= probation}
    fp_total = 0.0
    for i in alarms:
        if i < probation:
            continue
        inside = next((w for w, (s, e) in enumerate(windows) if s <= i <= e), None)
        if inside is not None:
            start, end = windows[inside]
            width = end - start + 1
            tp = scaled_sigmoid(-(end - i + 1) / width) * TP_WEIGHT / max_tp
            best[inside] = max(best[inside], tp)
            continue
        before = [(s, e) for s, e in windows if e < i]
        if before:
            start, end = before[-1]
            # Width - 1 as in the sweeper; a one-row window would divide by zero there too.
            position = abs(end - i) / float(end - start)
        else:
            position = 3.0
        fp_total += scaled_sigmoid(position) * FP_WEIGHT
    return sum(best.values()) + fp_total


def evaluate(series: Series, alarms: list[int]) -> FileResult:
    """Window detection counts and NAB scores of one run."""
    n = len(series.values)
    probation = min(math.floor(PROBATION_PERCENT * n), PROBATION_PERCENT * 5000)
    scored = [i for i in alarms if i >= probation]
    counted = [(s, e) for s, e in series.windows if e >= probation]
    detected = sum(1 for s, e in counted if any(max(s, probation) <= i <= e for i in scored))
    fp = sum(1 for i in scored if not any(s <= i <= e for s, e in series.windows))
    return FileResult(
        name=series.name,
        rows=n,
        windows=len(counted),
        detected=detected,
        alarms=len(scored),
        fp_alarms=fp,
        raw=nab_score(n, alarms, series.windows),
        null=nab_score(n, [], series.windows),
        perfect=len(series.windows) * TP_WEIGHT,
    )


def totals(results: list[FileResult]) -> FileResult:
    """Corpus-level sums; its normalised score is NAB's published number for this subset."""
    return FileResult(
        name="**total**",
        rows=sum(r.rows for r in results),
        windows=sum(r.windows for r in results),
        detected=sum(r.detected for r in results),
        alarms=sum(r.alarms for r in results),
        fp_alarms=sum(r.fp_alarms for r in results),
        raw=sum(r.raw for r in results),
        null=sum(r.null for r in results),
        perfect=sum(r.perfect for r in results),
    )


def ratio(num: int, den: int) -> str:
    """A fraction as 0.00, or a dash when undefined."""
    return f"{num / den:.2f}" if den else "–"


def results_table(results: list[FileResult]) -> str:
    """Markdown table: one row per file and a total."""
    lines = [
        "| File | Rows | Windows | Detected | Recall | Alarms | FP alarms | Precision "
        "| NAB raw | NAB normalised |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in [*results, totals(results)]:
        lines.append(
            f"| {r.name} | {r.rows:,} | {r.windows} | {r.detected} "
            f"| {ratio(r.detected, r.windows)} "
            f"| {r.alarms} | {r.fp_alarms} | {ratio(r.detected, r.detected + r.fp_alarms)} "
            f"| {r.raw:.2f} | {r.normalised:.1f} |"
        )
    return "\n".join(lines)


def reference_table(total: FileResult) -> str:
    """This detector next to NAB's published detectors, realTraffic and corpus-wide."""
    null, perfect = total.null, total.perfect
    lines = [
        "| Detector | NAB standard, realTraffic (7 files) | NAB standard, all 58 files "
        "(v1.1 scoreboard) |",
        "|---|---:|---:|",
        f"| Robust z-score (this, fixed defaults) | {total.normalised:.1f} | not run |",
    ]
    for name, raw, _corpus, board, _commit in REFERENCES:
        lines.append(f"| {name} | {normalise(raw, null, perfect):.1f} | {board:.1f} |")
    lines.append("| Null (no detections) | 0.0 | 0.0 |")
    return "\n".join(lines)


def throughput(all_series: list[Series], config: DetectorConfig, repeat: int) -> tuple[float, int]:
    """Median observations per second of observe() over all series, and the count."""
    count = sum(len(s.values) for s in all_series)
    rates = []
    for _ in range(repeat):
        elapsed = 0.0
        for s in all_series:
            detector = SeriesDetector(config)
            observe = detector.observe
            pairs = list(zip(s.values, s.at_s, strict=True))
            start = time.perf_counter()
            for value, at_s in pairs:
                observe(value, at_s)
            elapsed += time.perf_counter() - start
        rates.append(count / elapsed)
    return statistics.median(rates), count


def sweep_table(all_series: list[Series], base: DetectorConfig) -> str:
    """NAB normalised score of the whole set for neighbouring values of the tunables."""
    thresholds = [4.0, 5.0, 6.0, 7.0, 8.0]
    lines = [
        "| window | cooldown | " + " | ".join(f"thr {t:g}" for t in thresholds) + " |",
        "|---:|---:|" + "---:|" * len(thresholds),
    ]
    for window in (144, 288, 576):
        for cooldown in (0.0, 1800.0, 3600.0, 6 * 3600.0):
            cells = []
            for thr in thresholds:
                cfg = replace(
                    base, window=window, min_history=window // 2, cooldown_s=cooldown, threshold=thr
                )
                res = [evaluate(s, run_detector(s, cfg)) for s in all_series]
                cells.append(f"{totals(res).normalised:.1f}")
            mark = " ← default" if (window, cooldown) == (base.window, base.cooldown_s) else ""
            lines.append(f"| {window} | {cooldown / 60:g} min{mark} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation and print markdown."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="NAB data directory")
    parser.add_argument(
        "--dirs", default="realTraffic", help="comma-separated NAB directories (realTraffic)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="throughput repetitions")
    parser.add_argument("--sweep", action="store_true", help="also print the sensitivity table")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    config = DetectorConfig()
    dirs = [d for d in args.dirs.split(",") if d]
    all_series = load(args.data, dirs)
    results = [evaluate(s, run_detector(s, config)) for s in all_series]
    total = totals(results)

    # The scorer's own bounds, as NAB defines them: no detections score 0 and one detection
    # on the first row of every window (and nothing else) scores 100.
    perfect = totals([evaluate(s, [start for start, _ in s.windows]) for s in all_series])
    nothing = totals([evaluate(s, []) for s in all_series])
    assert abs(perfect.normalised - 100.0) < 1e-9 and nothing.normalised == 0.0

    print(f"## Robust z-score detector on NAB {', '.join(dirs)}\n")
    print(
        f"Defaults: window={config.window}, threshold={config.threshold:g}, "
        f"min_history={config.min_history}, cooldown_s={config.cooldown_s:g}, "
        f"min_scale={config.min_scale:g}\n"
    )
    print(results_table(results))
    print()
    if dirs == ["realTraffic"]:
        print(reference_table(total))
        print()
    rate, count = throughput(all_series, config, args.repeat)
    print(
        f"Throughput: {rate:,.0f} observations/s (median of {args.repeat} passes over "
        f"{count:,} readings, one core, Python {sys.version.split()[0]})\n"
    )
    if args.sweep:
        print("Sensitivity (NAB standard, normalised, whole set):\n")
        print(sweep_table(all_series, config))
        print()
    print(f"Benchmark runtime: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
