"""Automatic control of an intake or sluice gate against salinity: a deterministic state machine.

`decide` takes the policy, the gate's state, the newest salinity reading at the intake (or None
when there is none) and the time, and returns at most one command ("open" or "close") with its
reasons in Vietnamese and English and the next state. It is pure: the caller sends the
command, reports the device's answer with `acknowledge`, and passes the returned state back.

Rules, in order:

1. Manual mode: never a command; the operator is in charge. Readings are still tracked, so
   automatic control resumes with fresh streaks.
2. A command is pending (sent, not yet acknowledged): no other command, so that a slow gate is
   not sent a stream of orders. Two exceptions: a pending "open" is overridden by "close" as
   soon as salinity exceeds the limit (the gate may be half open; safety first), and after
   `retry_after_s` without acknowledgement the command is considered lost and the rules below
   run again, which re-sends it if it is still warranted.
3. Closing is immediate: the first reading above `close_above_ppt` closes an open gate, whatever
   `min_dwell_s` and `confirm_s` say. The purpose of the gate is that no water above the limit
   is taken in, so the only intake above the limit is the time between that reading and the
   gate's movement. Protecting the mechanism never outranks that.
4. Reopening waits for all of: a reading below `reopen_below_ppt` (hysteresis: the gap between
   the two thresholds stops a tide hovering at the limit from working the gate every few
   minutes), every reading for `confirm_s` since then below it, and `min_dwell_s` since the
   gate last moved.
5. No reading: no command. A closed gate is never reopened without a fresh reading, and after
   `stale_after_s` of silence the below-threshold streak is forgotten, so reopening needs
   `confirm_s` of fresh readings again (fail safe: keep closed). An open gate is left open by
   default (a dead probe is not evidence of salt, and closing an intake cuts a city's water),
   or closed when the policy says `close_when_stale`.

Salinity is compared strictly: "above" is > close_above_ppt and "below" is < reopen_below_ppt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from smartcity.domains.environment.salinity import format_ppt

__all__ = [
    "Decision",
    "GatePolicy",
    "GateState",
    "acknowledge",
    "decide",
    "set_auto",
    "set_manual",
]

Position = Literal["open", "closed"]
Mode = Literal["auto", "manual"]
Command = Literal["open", "close"]

_TARGET: dict[str, Position] = {"open": "open", "close": "closed"}


@dataclass(frozen=True)
class GatePolicy:
    """Thresholds (‰) and timings (s) of automatic gate control."""

    close_above_ppt: float
    # Must be below close_above_ppt: the hysteresis band between them holds the position.
    reopen_below_ppt: float
    # Minimum time in a position before automatic control reopens (protects the mechanism).
    min_dwell_s: float
    # How long salinity must stay below reopen_below_ppt before reopening.
    confirm_s: float = 0.0
    # Silence after which the last reading no longer counts (2 missed 15-minute readings).
    stale_after_s: float = 1800.0
    # An unacknowledged command is considered lost after this long. A large sluice gate takes
    # several minutes to travel, and readings come every 5–15 minutes: 15 min lets a slow gate
    # finish without a second order.
    retry_after_s: float = 900.0
    # Close an open gate when readings have been stale for stale_after_s.
    close_when_stale: bool = False

    def __post_init__(self) -> None:
        numbers = (
            self.close_above_ppt,
            self.reopen_below_ppt,
            self.min_dwell_s,
            self.confirm_s,
            self.stale_after_s,
            self.retry_after_s,
        )
        if not all(math.isfinite(n) for n in numbers):
            raise ValueError("policy values must be finite")
        if self.reopen_below_ppt < 0.0:
            raise ValueError("reopen_below_ppt must not be negative")
        if not self.reopen_below_ppt < self.close_above_ppt:
            raise ValueError("reopen_below_ppt must be below close_above_ppt (hysteresis)")
        if self.min_dwell_s < 0.0 or self.confirm_s < 0.0:
            raise ValueError("min_dwell_s and confirm_s must not be negative")
        if self.stale_after_s <= 0.0 or self.retry_after_s <= 0.0:
            raise ValueError("stale_after_s and retry_after_s must be positive")


@dataclass(frozen=True)
class GateState:
    """What the controller knows: position, mode, streaks, pending command, last reading."""

    position: Position
    mode: Mode
    # When the position last changed.
    since_s: float
    # Start of the current streak of readings above close_above / below reopen_below.
    above_since_s: float | None = None
    below_since_s: float | None = None
    # A command sent and not yet acknowledged, and when it was sent.
    pending: Command | None = None
    pending_since_s: float | None = None
    # When the last reading arrived.
    last_reading_s: float | None = None
    # When the mode last changed.
    mode_since_s: float | None = None

    def __post_init__(self) -> None:
        if self.position not in ("open", "closed"):
            raise ValueError(f"position must be 'open' or 'closed', not {self.position!r}")
        if self.mode not in ("auto", "manual"):
            raise ValueError(f"mode must be 'auto' or 'manual', not {self.mode!r}")
        if self.pending not in (None, "open", "close"):
            raise ValueError(f"pending must be None, 'open' or 'close', not {self.pending!r}")


@dataclass(frozen=True)
class Decision:
    """The command to send (or None), why, and the controller's next state."""

    command: Command | None
    # Machine-readable reason: close, open, manual, pending, keep-open, keep-closed, confirm,
    # dwell, no-reading, stale.
    code: str
    reason_vi: str
    reason_en: str
    state: GateState


def decide(
    policy: GatePolicy, state: GateState, salinity_ppt: float | None, now_s: float
) -> Decision:
    """The command (if any) for the gate given the newest salinity reading; pure."""
    reading = salinity_ppt if salinity_ppt is not None and math.isfinite(salinity_ppt) else None
    state = _track(policy, state, reading, now_s)
    limit, reopen = policy.close_above_ppt, policy.reopen_below_ppt
    if state.mode == "manual":
        vi, en = "Chế độ vận hành tay: không ra lệnh tự động", "manual mode: no automatic command"
        if reading is not None:
            vi += f" (độ mặn {_vi(reading)})"
            en += f" (salinity {_en(reading)})"
        return Decision(None, "manual", vi, en, state)

    resend_vi = resend_en = ""
    if state.pending is not None:
        if state.pending == "open" and reading is not None and reading > limit:
            return _command(
                "close",
                f"Độ mặn {_vi(reading)} vượt ngưỡng {_vi(limit)} tại cửa lấy nước: hủy lệnh mở, "
                "đóng cống",
                f"salinity {_en(reading)} above {_en(limit)} at the intake: cancel opening, close",
                state,
                now_s,
            )
        waited = now_s - (state.pending_since_s if state.pending_since_s is not None else now_s)
        action_vi, action_en = _ACTION[state.pending]
        if waited < policy.retry_after_s:
            return Decision(
                None,
                "pending",
                f"Đang chờ cống xác nhận lệnh {action_vi} (gửi {_dur_vi(waited)} trước)",
                f"waiting for the gate to confirm {action_en} (sent {_dur_en(waited)} ago)",
                state,
            )
        # No acknowledgement: the command is taken as lost; the rules decide afresh.
        resend_vi = f" (cống chưa xác nhận lệnh {action_vi} sau {_dur_vi(waited)}: gửi lại)"
        resend_en = f" (no acknowledgement of {action_en} after {_dur_en(waited)}: resend)"
        state = replace(state, pending=None, pending_since_s=None)

    if state.position == "open":
        if reading is not None and reading > limit:
            return _command(
                "close",
                f"Độ mặn {_vi(reading)} vượt ngưỡng {_vi(limit)} tại cửa lấy nước: đóng cống"
                + resend_vi,
                f"salinity {_en(reading)} above {_en(limit)} at the intake: close" + resend_en,
                state,
                now_s,
            )
        if reading is not None:
            return Decision(
                None,
                "keep-open",
                f"Độ mặn {_vi(reading)} không vượt ngưỡng {_vi(limit)}: giữ mở cống",
                f"salinity {_en(reading)} not above {_en(limit)}: keep open",
                state,
            )
        silent = _silence(state, now_s)
        if silent is None or silent > policy.stale_after_s:
            lost_vi, lost_en = _lost(silent)
            if policy.close_when_stale:
                return _command(
                    "close",
                    f"{lost_vi}: đóng cống để an toàn" + resend_vi,
                    f"{lost_en}: close to be safe" + resend_en,
                    state,
                    now_s,
                )
            return Decision(
                None,
                "stale",
                f"{lost_vi}: giữ mở cống, cần kiểm tra cảm biến",
                f"{lost_en}: keep open, check the sensor",
                state,
            )
        return Decision(
            None,
            "no-reading",
            "Không có số liệu độ mặn mới: giữ mở cống",
            "no new salinity reading: keep open",
            state,
        )

    # Closed.
    if reading is None:
        silent = _silence(state, now_s)
        if silent is None or silent > policy.stale_after_s:
            lost_vi, lost_en = _lost(silent)
            return Decision(
                None,
                "stale",
                f"{lost_vi}: giữ đóng cống để an toàn",
                f"{lost_en}: keep closed to be safe",
                state,
            )
        return Decision(
            None,
            "no-reading",
            "Không có số liệu độ mặn mới: giữ đóng cống",
            "no new salinity reading: keep closed",
            state,
        )
    if state.below_since_s is None:
        if reading > limit:
            vi = f"Độ mặn {_vi(reading)} vượt ngưỡng {_vi(limit)}: giữ đóng cống"
            en = f"salinity {_en(reading)} above {_en(limit)}: keep closed"
        else:
            vi = f"Độ mặn {_vi(reading)} chưa xuống dưới ngưỡng mở lại {_vi(reopen)}: giữ đóng cống"
            en = f"salinity {_en(reading)} not below the reopening threshold {_en(reopen)}: "
            en += "keep closed"
        return Decision(None, "keep-closed", vi, en, state)
    below_for = now_s - state.below_since_s
    if below_for < policy.confirm_s:
        return Decision(
            None,
            "confirm",
            f"Độ mặn {_vi(reading)} dưới ngưỡng mở lại {_vi(reopen)} mới được "
            f"{_dur_vi(below_for)}, cần {_dur_vi(policy.confirm_s)}: giữ đóng cống",
            f"salinity {_en(reading)} below {_en(reopen)} for {_dur_en(below_for)}, needs "
            f"{_dur_en(policy.confirm_s)}: keep closed",
            state,
        )
    dwell = now_s - state.since_s
    if dwell < policy.min_dwell_s:
        return Decision(
            None,
            "dwell",
            f"Độ mặn {_vi(reading)} dưới ngưỡng mở lại {_vi(reopen)} nhưng cống mới đóng được "
            f"{_dur_vi(dwell)} (tối thiểu {_dur_vi(policy.min_dwell_s)}): giữ đóng cống",
            f"salinity {_en(reading)} below {_en(reopen)} but the gate closed only "
            f"{_dur_en(dwell)} ago (minimum {_dur_en(policy.min_dwell_s)}): keep closed",
            state,
        )
    return _command(
        "open",
        f"Độ mặn {_vi(reading)} dưới ngưỡng mở lại {_vi(reopen)} đã {_dur_vi(below_for)} tại "
        "cửa lấy nước: mở cống" + resend_vi,
        f"salinity {_en(reading)} below {_en(reopen)} for {_dur_en(below_for)} at the intake: "
        "open" + resend_en,
        state,
        now_s,
    )


def acknowledge(state: GateState, position: str, now_s: float) -> GateState:
    """The state after the device reported its position ("open" or "closed")."""
    if position not in _POSITIONS:
        raise ValueError(f"position must be 'open' or 'closed', not {position!r}")
    reported = _POSITIONS[position]
    pending, pending_since = state.pending, state.pending_since_s
    # Only the report of the commanded position settles a command: a periodic status report of
    # the old position may arrive while the gate is still moving.
    if pending is not None and _TARGET[pending] == reported:
        pending, pending_since = None, None
    since = now_s if reported != state.position else state.since_s
    return replace(
        state, position=reported, since_s=since, pending=pending, pending_since_s=pending_since
    )


def set_manual(state: GateState, now_s: float) -> GateState:
    """The state with automatic control suspended; a pending automatic command is dropped."""
    if state.mode == "manual":
        return state
    return replace(state, mode="manual", mode_since_s=now_s, pending=None, pending_since_s=None)


def set_auto(state: GateState, now_s: float) -> GateState:
    """The state with automatic control resumed from the gate's current position."""
    if state.mode == "auto":
        return state
    return replace(state, mode="auto", mode_since_s=now_s, pending=None, pending_since_s=None)


# --- internals --------------------------------------------------------------------------------

_POSITIONS: dict[str, Position] = {"open": "open", "closed": "closed"}
_ACTION: dict[str, tuple[str, str]] = {"open": ("mở", "open"), "close": ("đóng", "close")}


def _track(policy: GatePolicy, state: GateState, reading: float | None, now_s: float) -> GateState:
    """The state with the reading's streaks updated (unchanged when there is no reading)."""
    if reading is None:
        return state
    # After a long silence the streaks restart: nobody knows what happened in between.
    gap = state.last_reading_s is not None and now_s - state.last_reading_s > policy.stale_after_s
    above_since = below_since = None
    if reading > policy.close_above_ppt:
        above_since = state.above_since_s if state.above_since_s is not None and not gap else now_s
    if reading < policy.reopen_below_ppt:
        below_since = state.below_since_s if state.below_since_s is not None and not gap else now_s
    return replace(
        state, above_since_s=above_since, below_since_s=below_since, last_reading_s=now_s
    )


def _command(command: Command, vi: str, en: str, state: GateState, now_s: float) -> Decision:
    """A decision that sends a command and marks it pending."""
    pending = replace(state, pending=command, pending_since_s=now_s)
    return Decision(command, command, vi, en, pending)


def _silence(state: GateState, now_s: float) -> float | None:
    """Seconds since the last reading, None if there never was one."""
    return None if state.last_reading_s is None else now_s - state.last_reading_s


def _lost(silent: float | None) -> tuple[str, str]:
    """How long the readings have been missing, in words."""
    if silent is None:
        return "Chưa có số liệu độ mặn", "no salinity reading yet"
    return f"Mất số liệu độ mặn {_dur_vi(silent)}", f"no salinity reading for {_dur_en(silent)}"


def _vi(ppt: float) -> str:
    return format_ppt(ppt, "vi")


def _en(ppt: float) -> str:
    return format_ppt(ppt, "en")


def _minutes(seconds: float) -> tuple[int, int]:
    """Whole hours and minutes of a duration (rounded to the minute)."""
    return divmod(max(0, round(seconds / 60.0)), 60)


def _dur_en(seconds: float) -> str:
    hours, minutes = _minutes(seconds)
    if hours == 0:
        return f"{minutes} min"
    return f"{hours} h" if minutes == 0 else f"{hours} h {minutes} min"


def _dur_vi(seconds: float) -> str:
    hours, minutes = _minutes(seconds)
    if hours == 0:
        return f"{minutes} phút"
    return f"{hours} giờ" if minutes == 0 else f"{hours} giờ {minutes} phút"
