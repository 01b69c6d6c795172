"""Automatic regulation of intakes and sluice gates against salinity (the loop of issue 8).

Each `SluiceGate` entity reports `upstreamSalinity` (at its intake) and `gateState`. On every
new reading the controller (regulation.decide: hysteresis, dwell, confirmation) may command
the gate through the ingestion command path, exactly as an operator's command would go; the
device's acknowledgement (`device.command` OK/ERROR/EXPIRED, and the position it reports)
closes the action. Every action and mode change is logged with its reason
(`env_gate_actions`) and shown on the gate entity (`controlMode`, `lastControlAction`).
Operators switch a gate to manual mode (with a reason) and command it themselves.

Only live readings are acted on (observed within `env_live_window_s` of now): history that
arrives late, such as the simulator's backfill, updates the state but never moves a gate.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from smartcity.core.context.times import format_us, now_us
from smartcity.core.domainrun import PlatformServices, changed_attrs
from smartcity.core.events import Event

from . import quality, regulation, repository

log = logging.getLogger(__name__)

ACTOR = "system:environment"
GATE_TYPE = "SluiceGate"
#: The attributes whose change makes the controller look at a gate again.
WATCHED = frozenset({"upstreamSalinity", "gateState"})


class GateError(ValueError):
    """A request about a gate that cannot be carried out (unknown gate, wrong mode)."""


class GateNotFound(GateError):
    """No such gate."""


class GateConflict(GateError):
    """The gate's state does not allow it (automatic mode, no device)."""


def policy_from(settings: Any) -> regulation.GatePolicy:
    """The gate policy configured by the env_* settings."""
    return regulation.GatePolicy(
        close_above_ppt=settings.env_intake_salinity_limit_ppt,
        reopen_below_ppt=settings.env_gate_reopen_ppt,
        min_dwell_s=settings.env_gate_min_dwell_s,
        confirm_s=settings.env_gate_confirm_s,
    )


def _state_of(row: dict[str, Any]) -> regulation.GateState:
    return regulation.GateState(
        position=row["position"],
        mode=row["mode"],
        since_s=row["since"],
        above_since_s=row["above_since"],
        below_since_s=row["below_since"],
        pending=row["pending"],
        pending_since_s=row["pending_since"],
        last_reading_s=row["last_reading"],
        mode_since_s=row["mode_since"],
    )


@dataclass
class GateController:
    """Reads gates' salinity, decides, commands, logs (see module docstring)."""

    platform: PlatformServices
    policy: regulation.GatePolicy
    #: Command outcomes are recorded off the publisher's thread (it may be inside a write).
    _outcomes: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="gate-outcomes")
    )

    # --- from the change feed and the event bus --------------------------------------------

    def on_gate(self, events: list[Event]) -> None:
        """New readings of gates: regulate each."""
        for event in events:
            if changed_attrs(event) & WATCHED:
                try:
                    self.regulate(event.subject)
                except Exception:
                    log.exception("gate control failed for %s", event.subject)

    def on_command(self, event: Event) -> None:
        """A gate command's outcome (OK, ERROR, EXPIRED): record it; a failed one is retried."""
        if str(event.data.get("status", "")) in ("OK", "ERROR", "EXPIRED"):
            self._outcomes.submit(self._record_outcome, event)

    def _record_outcome(self, event: Event) -> None:
        status = str(event.data.get("status", ""))
        gate_id = self._gate_of_device(event.subject)
        if gate_id is None:
            return

        def job(conn: Any) -> None:
            action = repository.last_command_action(conn, gate_id)
            if action is not None:
                repository.set_outcome(conn, action["id"], status)
            row = repository.get_gate(conn, gate_id)
            if row is not None and status != "OK":
                # Not moved: clear the pending command so the next reading decides again.
                repository.save_gate(conn, {**row, "pending": None, "updated_at": now_us()})

        self.platform.database.run_write(job)

    def _gate_of_device(self, device_id: str) -> str | None:
        with self.platform.database.read() as conn:
            for row in repository.list_gates(conn):
                if row["device_id"] == device_id:
                    return str(row["gate_id"])
        return None

    # --- the loop --------------------------------------------------------------------------

    def regulate(self, gate_id: str) -> regulation.Decision | None:
        """Look at a gate's newest reading and command it if the policy says so."""
        latest = self.platform.context.latest(gate_id)
        value, observed = latest.get("upstreamSalinity", (None, None))
        reported = latest.get("gateState", (None, None))[0]
        now_s = (observed or now_us()) / 1e6
        state, device_id = self._load(gate_id, reported, now_s)
        if reported in ("open", "closed") and reported != state.position:
            state = regulation.acknowledge(state, str(reported), now_s)
            self._log(gate_id, state, "acknowledged", value, *_moved(reported))
        live = observed is not None and now_us() - observed <= self._live_window_us()
        usable = isinstance(value, int | float) and quality.check_range("salinity", value) is None
        if not live:
            self._save(gate_id, device_id, state)
            return None
        reading = float(value) if usable and isinstance(value, int | float) else None
        decision = regulation.decide(self.policy, state, reading, now_s)
        state = decision.state
        if decision.command is not None:
            sent = device_id is not None and self._send(gate_id, device_id, decision, reading)
            if not sent:
                state = replace(state, pending=None, pending_since_s=None)
        self._save(gate_id, device_id, state)
        return decision

    def _live_window_us(self) -> int:
        return int(self.platform.settings.env_live_window_s * 1e6)

    def _load(
        self, gate_id: str, reported: Any, now_s: float
    ) -> tuple[regulation.GateState, str | None]:
        with self.platform.database.read() as conn:
            row = repository.get_gate(conn, gate_id)
        if row is not None:
            return _state_of(row), row["device_id"]
        devices = self.platform.devices.devices_of_entity(gate_id)
        position: regulation.Position = "closed" if reported == "closed" else "open"
        state = regulation.GateState(position=position, mode="auto", since_s=now_s)
        return state, devices[0] if devices else None

    def _send(
        self, gate_id: str, device_id: str, decision: regulation.Decision, salinity: float | None
    ) -> bool:
        """Command the gate; log the action (with the refusal, if the platform refused)."""
        command = str(decision.command)
        try:
            self.platform.commands.send(device_id, command, "", ACTOR, lambda _t: True)
        except Exception as error:  # any refusal is logged with the action
            log.warning("gate %s: command %s refused: %s", gate_id, command, error)
            self._log(gate_id, decision.state, command, salinity, decision.reason_vi,
                      decision.reason_en, outcome=f"REFUSED: {error}")  # fmt: skip
            return False
        self._log(gate_id, decision.state, command, salinity, decision.reason_vi,
                  decision.reason_en)  # fmt: skip
        return True

    def _save(self, gate_id: str, device_id: str | None, state: regulation.GateState) -> None:
        values = {
            "gate_id": gate_id,
            "device_id": device_id,
            "position": state.position,
            "mode": state.mode,
            "since": state.since_s,
            "above_since": state.above_since_s,
            "below_since": state.below_since_s,
            "pending": state.pending,
            "pending_since": state.pending_since_s,
            "last_reading": state.last_reading_s,
            "mode_since": state.mode_since_s,
            "updated_at": now_us(),
        }
        self.platform.database.run_write(lambda conn: repository.save_gate(conn, values))

    def _log(
        self,
        gate_id: str,
        state: regulation.GateState,
        action: str,
        salinity: Any,
        reason_vi: str,
        reason_en: str,
        *,
        actor: str = ACTOR,
        outcome: str | None = None,
    ) -> None:
        at = now_us()
        row = {
            "at": at,
            "gate_id": gate_id,
            "action": action,
            "mode": state.mode,
            "actor": actor,
            "salinity": float(salinity) if isinstance(salinity, int | float) else None,
            "reason_vi": reason_vi,
            "reason_en": reason_en,
            "outcome": outcome,
        }
        self.platform.database.run_write(lambda conn: repository.add_action(conn, row))
        self._show(gate_id, state, action, reason_vi, reason_en, at)

    def _show(
        self,
        gate_id: str,
        state: regulation.GateState,
        action: str,
        reason_vi: str,
        reason_en: str,
        at: int,
    ) -> None:
        """Put the mode and the last action on the gate entity, for the map and entity page."""
        body = {
            "id": gate_id,
            "type": GATE_TYPE,
            "controlMode": {"type": "Property", "value": state.mode},
            "lastControlAction": {
                "type": "Property",
                "value": action,
                "observedAt": format_us(at),
                "reason_vi": {"type": "Property", "value": reason_vi},
                "reason_en": {"type": "Property", "value": reason_en},
            },
        }
        self.platform.context.upsert([body])

    # --- operators -------------------------------------------------------------------------

    def gates(self) -> list[dict[str, Any]]:
        """Every gate with its controller state and recent actions."""
        with self.platform.database.read() as conn:
            rows = repository.list_gates(conn)
            actions = repository.list_actions(conn, None, 200)
        known = {row["gate_id"]: row for row in rows}
        for entity in self.platform.context.query(GATE_TYPE, limit=1000):
            known.setdefault(entity["id"], {"gate_id": entity["id"], "mode": "auto"})
        out = []
        for gate_id, row in sorted(known.items()):
            out.append(
                {
                    **_gate_out(row),
                    "actions": [_action_out(a) for a in actions if a["gate_id"] == gate_id][:20],
                }
            )
        return out

    def actions(self, gate_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """One gate's action log, newest first."""
        self._require(gate_id)
        with self.platform.database.read() as conn:
            return [_action_out(a) for a in repository.list_actions(conn, gate_id, limit)]

    def set_mode(self, gate_id: str, mode: str, reason: str, actor: str) -> dict[str, Any]:
        """Switch a gate to manual (operator override) or back to automatic."""
        if mode not in ("manual", "auto"):
            raise GateError("mode must be 'manual' or 'auto'")
        if not reason.strip():
            raise GateError("a reason is required")
        self._require(gate_id)
        reported = self.platform.context.latest(gate_id).get("gateState", (None, None))[0]
        now_s = time.time()
        state, device_id = self._load(gate_id, reported, now_s)
        change = regulation.set_manual if mode == "manual" else regulation.set_auto
        state = change(state, now_s)
        self._save(gate_id, device_id, state)
        self._log(gate_id, state, mode, None, reason, reason, actor=actor)
        return self.gate(gate_id)

    def command(self, gate_id: str, command: str, reason: str, actor: str) -> dict[str, Any]:
        """An operator's command to a gate in manual mode."""
        if command not in ("open", "close"):
            raise GateError("command must be 'open' or 'close'")
        if not reason.strip():
            raise GateError("a reason is required")
        gate = self.gate(gate_id)
        if gate["mode"] != "manual":
            raise GateConflict("switch the gate to manual mode before commanding it")
        if gate["device_id"] is None:
            raise GateConflict("no device is provisioned for this gate")
        self.platform.commands.send(gate["device_id"], command, "", actor, lambda _t: True)
        with self.platform.database.read() as conn:
            row = repository.get_gate(conn, gate_id)
        assert row is not None
        pending: regulation.Command = "open" if command == "open" else "close"
        state = replace(_state_of(row), pending=pending, pending_since_s=time.time())
        self._save(gate_id, row["device_id"], state)
        self._log(gate_id, state, command, None, reason, reason, actor=actor)
        return self.gate(gate_id)

    def gate(self, gate_id: str) -> dict[str, Any]:
        """One gate's controller state."""
        self._require(gate_id)
        with self.platform.database.read() as conn:
            row = repository.get_gate(conn, gate_id)
        if row is None:
            reported = self.platform.context.latest(gate_id).get("gateState", (None, None))[0]
            state, device_id = self._load(gate_id, reported, time.time())
            self._save(gate_id, device_id, state)
            with self.platform.database.read() as conn:
                row = repository.get_gate(conn, gate_id)
        assert row is not None
        return _gate_out(row)

    def _require(self, gate_id: str) -> None:
        try:
            types = self.platform.context.get(gate_id).get("type")
        except Exception as error:
            raise GateNotFound(f"no gate {gate_id!r}") from error
        if types != GATE_TYPE:
            raise GateNotFound(f"{gate_id!r} is not a {GATE_TYPE}")


def _moved(position: Any) -> tuple[str, str]:
    return (f"Thiết bị báo cống đã {'đóng' if position == 'closed' else 'mở'}",
            f"The device reports the gate {position}")  # fmt: skip


def _gate_out(row: dict[str, Any]) -> dict[str, Any]:
    last = row.get("last_reading")
    return {
        "id": row["gate_id"],
        "device_id": row.get("device_id"),
        "position": row.get("position"),
        "mode": row.get("mode", "auto"),
        "pending": row.get("pending"),
        # The newest salinity reading the controller has decided on.
        "last_reading_at": format_us(round(last * 1e6)) if last is not None else None,
    }


def _action_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": format_us(row["at"]),
        "action": row["action"],
        "mode": row["mode"],
        "actor": row["actor"],
        "salinity": row["salinity"],
        "reason_vi": row["reason_vi"],
        "reason_en": row["reason_en"],
        "outcome": row["outcome"],
    }
