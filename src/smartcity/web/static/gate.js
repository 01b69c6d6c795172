// A sluice gate's automatic control on its entity page: position, mode and pending command,
// the operator's override (manual mode, with a reason) and the log of every action with its
// reason, from /api/environment/gates.
"use strict";

const GATE_ID = document.querySelector(".entity").dataset.entityId;
const gateUrl = `/api/environment/gates/${encodeURIComponent(GATE_ID)}`;
// NGSI-LD ids name their type (urn:ngsi-ld:SluiceGate:…): other pages ask nothing.
const IS_GATE = GATE_ID.includes(":SluiceGate:");
const POSITIONS = { open: "Gate open", closed: "Gate closed" };
const ACTIONS = {
  open: "Open the gate", close: "Close the gate", acknowledged: "Device confirmed",
  manual: "Switched to manual", auto: "Switched to automatic",
};

async function loadGate() {
  const response = await api("/api/environment/gates");
  if (!response.ok) return false;  // not a role that controls equipment
  const gate = (await response.json()).find((g) => g.id === GATE_ID);
  if (!gate) return false;
  document.getElementById("gate-card").hidden = false;
  const state = document.getElementById("gate-state");
  state.replaceChildren();
  const rows = [
    [t("Mode"), gate.mode === "manual" ? t("Manual") : t("Automatic")],
    [t("Position"), gate.position ? t(POSITIONS[gate.position] || gate.position) : "—"],
    [t("Pending command"), gate.pending ? t(ACTIONS[gate.pending] || gate.pending) : "—"],
  ];
  for (const [label, value] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value;
    state.append(dt, dd);
  }
  state.dataset.mode = gate.mode;
  document.getElementById("gate-mode").value = gate.mode;
  document.getElementById("gate-command-form").hidden = gate.mode !== "manual";
  await loadActions();
  return true;
}

async function loadActions() {
  const response = await api(`${gateUrl}/actions`);
  if (!response.ok) return;
  const body = document.querySelector("#gate-actions tbody");
  body.replaceChildren();
  for (const action of (await response.json()).slice(0, 20)) {
    const row = body.insertRow();
    row.className = `gate-action action-${action.action}`;
    const salinity = action.salinity == null ? "" : `${action.salinity.toLocaleString(PAGE.lang)} ‰`;
    const reason = PAGE.lang === "vi" ? action.reason_vi : action.reason_en;
    const cells = [
      new Date(action.at).toLocaleString(PAGE.lang), t(ACTIONS[action.action] || action.action),
      action.actor, salinity, reason, action.outcome || "",
    ];
    for (const value of cells) row.insertCell().textContent = value;
  }
}

async function post(path, body) {
  const error = document.getElementById("gate-error");
  const response = await api(`${gateUrl}/${path}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  error.hidden = response.ok;
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    error.textContent = problem.detail || problem.title || String(response.status);
  }
  await loadGate();
  return response.ok;
}

document.getElementById("gate-mode-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const reason = document.getElementById("gate-mode-reason");
  if (await post("mode", { mode: document.getElementById("gate-mode").value, reason: reason.value })) reason.value = "";
});
document.getElementById("gate-command-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const reason = document.getElementById("gate-command-reason");
  if (await post("command", { command: document.getElementById("gate-command").value, reason: reason.value })) reason.value = "";
});
if (IS_GATE) loadGate().then((shown) => { if (shown) setInterval(loadGate, 10000); });
