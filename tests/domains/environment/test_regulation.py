"""Automatic intake-gate control against salinity: unit rules and a simulated dry season."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, replace

import pytest

from smartcity.domains.environment.regulation import (
    Decision,
    GatePolicy,
    GateState,
    acknowledge,
    decide,
    set_auto,
    set_manual,
)

MIN = 60.0
HOUR = 3600.0
DAY = 86400.0
STEP = 5 * MIN
ACK_DELAY = 30.0

POLICY = GatePolicy(close_above_ppt=0.5, reopen_below_ppt=0.35, min_dwell_s=2 * HOUR,
                    confirm_s=1 * HOUR)  # fmt: skip
# No hysteresis band to speak of, no dwell, no confirmation: what the policy must beat.
NAIVE = GatePolicy(close_above_ppt=0.5, reopen_below_ppt=0.4999, min_dwell_s=0.0)

OPEN = GateState("open", "auto", since_s=0.0)
CLOSED = GateState("closed", "auto", since_s=0.0)


def target(command: str) -> str:
    return "closed" if command == "close" else "open"


def salinity_season(
    days: float = 60.0, peak: float = 0.5, seed: int = 3
) -> list[tuple[float, float]]:
    """Salinity (‰) at an intake through a dry season, every 5 minutes.

    Fresh water (0.15 ‰) plus an intrusion that builds over three weeks, peaks on day 30 and
    recedes, modulated by a mixed semi-diurnal tide whose range breathes with the spring-neap
    cycle (salinity peaks around high water), plus probe noise, at the probes' 0.01 ‰.
    """
    rng = random.Random(seed)
    out = []
    for k in range(int(days * DAY / STEP)):
        t = k * STEP
        d = t / DAY
        intrusion = peak * math.exp(-(((d - 30.0) / 9.0) ** 2))
        spring_neap = 0.6 + 0.4 * math.cos(2 * math.pi * d / 14.77)
        tide = spring_neap * (
            0.7 * math.sin(2 * math.pi * t / (12.42 * HOUR))
            + 0.3 * math.sin(2 * math.pi * t / (23.93 * HOUR) + 1.0)
        )
        value = 0.15 + intrusion * math.exp(1.2 * tide) + rng.gauss(0.0, 0.01)
        out.append((t, round(max(value, 0.0), 2)))
    return out


@dataclass
class Step:
    t: float
    salinity: float | None
    position_before: str  # acknowledged position when the reading came in
    decision: Decision
    position_after: str  # acknowledged position before the next reading


def drive(
    policy: GatePolicy,
    readings: list[tuple[float, float | None]],
    state: GateState = OPEN,
    ack_delay_s: float = ACK_DELAY,
    manual: tuple[float, float] | None = None,
) -> list[Step]:
    """Run the controller over a series; the gate acknowledges each command after a delay."""
    steps = []
    acks: list[tuple[float, str]] = []  # (when, position) reports in flight
    for t, salinity in readings:
        # Deliver the acknowledgements due by now.
        for when, position in [a for a in acks if a[0] <= t]:
            state = acknowledge(state, position, when)
        acks = [a for a in acks if a[0] > t]
        if manual is not None:
            state = set_manual(state, t) if manual[0] <= t < manual[1] else set_auto(state, t)
        before = state.position
        decision = decide(policy, state, salinity, t)
        state = decision.state
        if decision.command is not None:
            acks.append((t + ack_delay_s, target(decision.command)))
            # Deliver the acknowledgement now if it is due before the next reading.
            if ack_delay_s < STEP:
                state = acknowledge(state, target(decision.command), t + ack_delay_s)
                acks.pop()
        steps.append(Step(t, salinity, before, decision, state.position))
    return steps


def commands(steps: list[Step]) -> list[tuple[float, str]]:
    return [(s.t, s.decision.command) for s in steps if s.decision.command is not None]


# --- the simulated season --------------------------------------------------------------------


@pytest.mark.parametrize(("peak", "seed"), [(0.5, 3), (0.8, 11), (0.3, 5)])
def test_no_intake_above_the_limit_in_auto_mode(peak: float, seed: int) -> None:
    """Whenever a reading is above the limit, the gate was already closed or is closed now.

    Precisely: for every reading above close_above_ppt, either the acknowledged position when
    it arrived was "closed", or `decide` sent "close" in that same step, and the gate is closed
    before the next reading. So the only water taken above the limit is the one step in which
    salinity was detected, up to the gate's acknowledgement delay (30 s here), never a second
    step.
    """
    season = salinity_season(peak=peak, seed=seed)
    steps = drive(POLICY, list(season))
    above = [s for s in steps if s.salinity is not None and s.salinity > POLICY.close_above_ppt]
    assert above, "the season must exceed the limit"
    for s in above:
        assert s.position_before == "closed" or s.decision.command == "close", s
        assert s.position_after == "closed", s
    exposed = [s for s in above if s.position_before == "open"]
    # Each exposure is one detection, answered by one close.
    assert len(exposed) == sum(1 for _, c in commands(steps) if c == "close")


def test_the_gate_closes_at_the_peak_and_reopens_after_the_season() -> None:
    steps = drive(POLICY, list(salinity_season()))
    ops = commands(steps)
    assert ops[0][1] == "close" and ops[-1][1] == "open"
    # Strictly alternating: never two closes or two opens in a row.
    assert all(a[1] != b[1] for a, b in itertools.pairwise(ops))
    peak_step = next(s for s in steps if s.t >= 30 * DAY)
    assert peak_step.position_after == "closed"
    assert steps[-1].position_after == "open"


@pytest.mark.parametrize(("peak", "seed"), [(0.5, 3), (0.8, 11), (0.3, 5), (0.35, 1)])
def test_hysteresis_and_dwell_prevent_chatter(peak: float, seed: int) -> None:
    season = salinity_season(peak=peak, seed=seed)
    ops = commands(drive(POLICY, list(season)))
    naive = commands(drive(NAIVE, list(season)))
    up_crossings = sum(1 for (_, a), (_, b) in itertools.pairwise(season) if a <= 0.5 < b)
    tides_above = len({int(t // (12.42 * HOUR)) for t, s in season if s > 0.5})

    def flickers(operations: list[tuple[float, str]]) -> int:
        """Closures undone within 10 minutes."""
        pairs = itertools.pairwise(operations)
        return sum(1 for a, b in pairs if a[1] == "close" and b[0] - a[0] <= 10 * MIN)

    # Without hysteresis the gate follows nearly every noisy crossing of the limit, and
    # reopens minutes after closing.
    assert len(naive) >= up_crossings
    assert flickers(naive) >= 5
    # With it: never a flicker, at most one close/open cycle per tide that exceeds the limit
    # (a mild season legitimately closes at high water and reopens at low water), and fewer
    # operations than the naive controller.
    assert flickers(ops) == 0
    assert len(ops) <= 2 * tides_above
    assert len(ops) < len(naive)


def test_reopening_respects_dwell_and_confirmation() -> None:
    season = salinity_season(peak=0.8, seed=11)
    steps = drive(POLICY, list(season))
    closed_at = None
    for i, s in enumerate(steps):
        if s.decision.command == "close":
            closed_at = s.t + ACK_DELAY
        if s.decision.command == "open":
            assert closed_at is not None
            assert s.t - closed_at >= POLICY.min_dwell_s
            # Every reading of the last confirm_s was below the reopening threshold.
            window = [x for x in steps[: i + 1] if x.t >= s.t - POLICY.confirm_s]
            assert all(x.salinity is not None and x.salinity < 0.35 for x in window)
            assert window[0].t <= s.t - POLICY.confirm_s
            assert s.decision.code == "open"


def test_manual_mode_never_commands() -> None:
    season = salinity_season(peak=0.8, seed=11)
    start, end = 25 * DAY, 35 * DAY
    # The operator takes over through the peak of the season and, say, leaves the gate open.
    steps = drive(POLICY, list(season), state=OPEN, manual=(start, end))
    during = [s for s in steps if start <= s.t < end]
    assert any(s.salinity is not None and s.salinity > 0.5 for s in during)
    assert during and all(s.decision.command is None for s in during)
    assert all(s.decision.code == "manual" for s in during)
    assert all("manual mode" in s.decision.reason_en for s in during)
    assert all("vận hành tay" in s.decision.reason_vi for s in during)
    # Back in auto, the no-intake-above-the-limit guarantee holds again at once.
    after = [s for s in steps if s.t >= end and s.salinity is not None and s.salinity > 0.5]
    assert after
    for s in after:
        assert s.position_before == "closed" or s.decision.command == "close", s


def test_missing_readings_keep_the_gate_closed() -> None:
    # Closed at high salinity, then the probe goes silent for 3 h while the water freshens.
    t0 = 10 * HOUR
    readings: list[tuple[float, float | None]] = [(t0, 0.8)]
    readings += [(t0 + k * STEP, 0.2) for k in range(1, 4)]
    gap_end = t0 + 3 * HOUR
    readings += [(t0 + k * STEP, None) for k in range(4, int(3 * HOUR / STEP))]
    readings += [(gap_end + k * STEP, 0.2) for k in range(0, 36)]
    steps = drive(POLICY, readings, state=replace(OPEN, since_s=0.0))
    assert steps[0].decision.command == "close"
    silent = [s for s in steps if s.salinity is None]
    assert all(s.decision.command is None and s.position_after == "closed" for s in silent)
    stale = [s for s in silent if s.t - (t0 + 3 * STEP) > POLICY.stale_after_s]
    assert stale and all(s.decision.code == "stale" for s in stale)
    assert "keep closed" in stale[0].decision.reason_en
    assert "Mất số liệu độ mặn" in stale[0].decision.reason_vi
    # After the gap the confirmation starts again from the first fresh reading.
    opened = [s for s in steps if s.decision.command == "open"]
    assert len(opened) == 1
    assert opened[0].t == gap_end + POLICY.confirm_s


def test_stale_readings_leave_an_open_gate_open_unless_the_policy_says_close() -> None:
    state = decide(POLICY, OPEN, 0.2, 0.0).state
    quiet = decide(POLICY, state, None, 10 * MIN)
    assert (quiet.command, quiet.code) == (None, "no-reading")
    stale = decide(POLICY, state, None, 2 * HOUR)
    assert (stale.command, stale.code) == (None, "stale")
    assert "check the sensor" in stale.reason_en
    strict = replace(POLICY, close_when_stale=True)
    closing = decide(strict, state, None, 2 * HOUR)
    assert closing.command == "close"
    never = decide(POLICY, OPEN, None, 0.0)
    assert never.code == "stale" and never.reason_en.startswith("no salinity reading yet")


# --- unit rules -------------------------------------------------------------------------------


def test_close_reason_is_specific_in_both_languages() -> None:
    decision = decide(POLICY, OPEN, 0.62, 100.0)
    assert decision.command == "close"
    assert decision.reason_en == "salinity 0.62‰ above 0.50‰ at the intake: close"
    assert decision.reason_vi == "Độ mặn 0,62‰ vượt ngưỡng 0,50‰ tại cửa lấy nước: đóng cống"
    assert decision.state.pending == "close" and decision.state.pending_since_s == 100.0
    assert decision.state.above_since_s == 100.0


def test_closing_ignores_dwell_and_confirmation() -> None:
    slow = GatePolicy(0.5, 0.35, min_dwell_s=DAY, confirm_s=6 * HOUR)
    just_opened = GateState("open", "auto", since_s=1000.0)
    decision = decide(slow, just_opened, 0.51, 1001.0)
    assert decision.command == "close"


def test_at_the_limit_is_not_above_and_at_the_reopening_threshold_is_not_below() -> None:
    assert decide(POLICY, OPEN, 0.5, 0.0).command is None
    quick = GatePolicy(0.5, 0.35, min_dwell_s=0.0)
    assert decide(quick, CLOSED, 0.35, 10.0).code == "keep-closed"
    assert decide(quick, CLOSED, 0.34, 10.0).command == "open"


def test_hysteresis_band_holds_either_position() -> None:
    for value in (0.36, 0.45, 0.5):
        assert decide(POLICY, OPEN, value, 0.0).code == "keep-open"
        held = decide(POLICY, CLOSED, value, 10 * HOUR)
        assert held.command is None and held.code == "keep-closed"
    assert "reopening threshold 0.35‰" in decide(POLICY, CLOSED, 0.4, 0.0).reason_en
    assert decide(POLICY, CLOSED, 0.9, 0.0).reason_vi.startswith("Độ mặn 0,90‰ vượt ngưỡng")


def test_reopening_waits_for_confirmation_then_dwell() -> None:
    closed = GateState("closed", "auto", since_s=0.0)
    first = decide(POLICY, closed, 0.3, 30 * MIN)
    assert (first.command, first.code) == (None, "confirm")
    assert "needs 1 h" in first.reason_en and "cần 1 giờ" in first.reason_vi
    # Confirmed after an hour, but the gate closed only 1.5 h ago (dwell 2 h).
    state = first.state
    for t in (40 * MIN, 60 * MIN, 80 * MIN):
        state = decide(POLICY, state, 0.3, t).state
    dwell = decide(POLICY, state, 0.3, 90 * MIN)
    assert (dwell.command, dwell.code) == (None, "dwell")
    assert "minimum 2 h" in dwell.reason_en and "tối thiểu 2 giờ" in dwell.reason_vi
    opened = decide(POLICY, dwell.state, 0.3, 2 * HOUR)
    assert opened.command == "open"
    assert opened.reason_en == "salinity 0.30‰ below 0.35‰ for 1 h 30 min at the intake: open"
    assert opened.reason_vi == (
        "Độ mặn 0,30‰ dưới ngưỡng mở lại 0,35‰ đã 1 giờ 30 phút tại cửa lấy nước: mở cống"
    )


def test_a_reading_in_the_band_restarts_the_confirmation() -> None:
    state = decide(POLICY, CLOSED, 0.3, 10 * HOUR).state
    state = decide(POLICY, state, 0.4, 10 * HOUR + 30 * MIN).state
    assert state.below_since_s is None
    again = decide(POLICY, state, 0.3, 11 * HOUR)
    assert again.code == "confirm" and again.state.below_since_s == 11 * HOUR


def test_no_second_command_while_one_is_pending() -> None:
    sent = decide(POLICY, OPEN, 0.7, 0.0)
    assert sent.command == "close"
    for t in (STEP, 2 * STEP, POLICY.retry_after_s - 1):
        waiting = decide(POLICY, sent.state, 0.8, t)
        assert (waiting.command, waiting.code) == (None, "pending")
    waiting = decide(POLICY, sent.state, 0.8, 2 * STEP)
    assert waiting.reason_en == "waiting for the gate to confirm close (sent 10 min ago)"
    assert waiting.reason_vi == "Đang chờ cống xác nhận lệnh đóng (gửi 10 phút trước)"


def test_an_unacknowledged_command_is_sent_again() -> None:
    sent = decide(POLICY, OPEN, 0.7, 0.0)
    again = decide(POLICY, sent.state, 0.7, POLICY.retry_after_s)
    assert again.command == "close"
    assert "no acknowledgement of close after 15 min: resend" in again.reason_en
    assert again.state.pending_since_s == POLICY.retry_after_s


def test_a_pending_open_is_overridden_by_close_when_salinity_rises() -> None:
    state = replace(CLOSED, pending="open", pending_since_s=0.0)
    decision = decide(POLICY, state, 0.55, 60.0)
    assert decision.command == "close"
    assert decision.state.pending == "close"
    assert "cancel opening" in decision.reason_en and "hủy lệnh mở" in decision.reason_vi


def test_slow_acknowledgement_in_the_season_sends_each_command_once() -> None:
    # The gate takes 7 min to report: one step passes with the command pending.
    season = salinity_season(days=45, peak=0.8, seed=11)
    steps = drive(POLICY, list(season), ack_delay_s=7 * MIN)
    ops = commands(steps)
    assert all(a[1] != b[1] for a, b in itertools.pairwise(ops))
    assert any(s.decision.code == "pending" for s in steps)


def test_acknowledge_settles_only_the_commanded_position() -> None:
    pending = replace(OPEN, pending="close", pending_since_s=0.0)
    # A status report of the old position while the gate is moving: still pending.
    report = acknowledge(pending, "open", 10.0)
    assert report.pending == "close" and report.since_s == 0.0
    done = acknowledge(pending, "closed", 30.0)
    assert (done.position, done.pending, done.pending_since_s, done.since_s) == (
        "closed",
        None,
        None,
        30.0,
    )
    # Repeating the same position does not restart the dwell.
    assert acknowledge(done, "closed", 500.0).since_s == 30.0
    with pytest.raises(ValueError, match="position"):
        acknowledge(done, "half-open", 40.0)


def test_manual_and_auto_switch_the_mode_and_drop_pending_commands() -> None:
    pending = replace(OPEN, pending="close", pending_since_s=0.0)
    manual = set_manual(pending, 60.0)
    assert (manual.mode, manual.pending, manual.mode_since_s) == ("manual", None, 60.0)
    assert set_manual(manual, 90.0) is manual
    assert decide(POLICY, manual, 3.0, 120.0).command is None
    auto = set_auto(manual, 180.0)
    assert (auto.mode, auto.mode_since_s) == ("auto", 180.0)
    assert set_auto(auto, 200.0) is auto
    assert decide(POLICY, auto, 3.0, 240.0).command == "close"


def test_manual_mode_keeps_tracking_readings() -> None:
    manual = set_manual(CLOSED, 0.0)
    state = manual
    for minutes in range(0, 61, 15):
        state = decide(POLICY, state, 0.2, 10 * HOUR + minutes * MIN).state
    assert state.below_since_s == 10 * HOUR and state.last_reading_s == 11 * HOUR
    # Resuming auto: the streak counts, the gate reopens at once.
    assert decide(POLICY, set_auto(state, 11 * HOUR), 0.2, 11 * HOUR + 60).command == "open"


def test_non_finite_readings_count_as_missing() -> None:
    decision = decide(POLICY, CLOSED, math.nan, 0.0)
    assert decision.command is None and decision.state.last_reading_s is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"close_above_ppt": 0.5, "reopen_below_ppt": 0.5, "min_dwell_s": 0.0},
        {"close_above_ppt": 0.5, "reopen_below_ppt": 0.6, "min_dwell_s": 0.0},
        {"close_above_ppt": 0.5, "reopen_below_ppt": -0.1, "min_dwell_s": 0.0},
        {"close_above_ppt": 0.5, "reopen_below_ppt": 0.3, "min_dwell_s": -1.0},
        {"close_above_ppt": 0.5, "reopen_below_ppt": 0.3, "min_dwell_s": 0.0, "confirm_s": -1.0},
        {"close_above_ppt": math.nan, "reopen_below_ppt": 0.3, "min_dwell_s": 0.0},
        {"close_above_ppt": 0.5, "reopen_below_ppt": 0.3, "min_dwell_s": 0.0, "stale_after_s": 0},
    ],
)
def test_policy_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        GatePolicy(**kwargs)  # type: ignore[arg-type]


def test_state_validation() -> None:
    with pytest.raises(ValueError, match="position"):
        GateState("ajar", "auto", 0.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode"):
        GateState("open", "remote", 0.0)  # type: ignore[arg-type]
