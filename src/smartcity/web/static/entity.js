// An entity's page: its current values, a history chart aggregated by the temporal API
// (raw for an hour or a day, hourly/6-hourly/daily averages with min–max for longer), and,
// when a device feeds it, the device's health and its commands with their acknowledgement.
"use strict";

const ENTITY_ID = document.querySelector(".entity").dataset.entityId;
const RANGES = {
  "1h": { seconds: 3600, period: null },
  "1d": { seconds: 86400, period: null },
  "7d": { seconds: 7 * 86400, period: "PT1H" },
  "30d": { seconds: 30 * 86400, period: "PT6H" },
  "1y": { seconds: 365 * 86400, period: "P1D" },
};
let chart = null;
let range = "7d";
let lastCommandState = null;

const entityUrl = (suffix = "") => `/ngsi-ld/v1/${suffix}entities/${encodeURIComponent(ENTITY_ID)}`;

async function loadEntity() {
  const response = await api(`${entityUrl()}?options=keyValues`);
  if (!response.ok) {
    document.getElementById("entity-title").textContent = `${ENTITY_ID}: ${response.status}`;
    return;
  }
  const entity = await response.json();
  document.getElementById("entity-title").textContent = entity.name || ENTITY_ID;
  document.getElementById("entity-type").textContent = `${entity.type} · ${ENTITY_ID}`;
  const body = document.querySelector("#attributes tbody");
  body.replaceChildren();
  const select = document.getElementById("history-attr");
  const previous = select.value;
  select.replaceChildren();
  for (const [key, value] of Object.entries(entity)) {
    if (["id", "type", "@context"].includes(key) || (typeof value === "object" && value !== null)) continue;
    const row = body.insertRow();
    row.insertCell().textContent = key;
    row.insertCell().textContent = typeof value === "number" ? value.toLocaleString(PAGE.lang) : String(value);
    if (typeof value === "number") select.append(new Option(key, key, false, key === previous));
  }
  if (select.options.length && !chart) drawHistory();
}

async function drawHistory() {
  const attr = document.getElementById("history-attr").value;
  if (!attr) return;
  const { seconds, period } = RANGES[range];
  const since = new Date(Date.now() - seconds * 1000).toISOString();
  const params = new URLSearchParams({ attrs: attr, timerel: "after", timeAt: since });
  if (period) {
    params.set("options", "aggregatedValues");
    params.set("aggrMethods", "avg,min,max");
    params.set("aggrPeriodDuration", period);
  } else {
    params.set("options", "temporalValues");
    params.set("lastN", "5000");
  }
  const response = await api(`${entityUrl("temporal/")}?${params}`);
  const data = response.ok ? (await response.json())[attr] || {} : {};
  const series = period ? aggregated(data) : raw(data);
  plot(attr, series, period);
  document.getElementById("chart-note").textContent = `${series[0].length} ${t("points")}`;
  document.body.dataset.chartReady = String(series[0].length);
}

function raw(data) {
  const values = (data.values || []).map(([v, at]) => [Date.parse(at) / 1000, v]);
  values.sort((a, b) => a[0] - b[0]);
  return [values.map((p) => p[0]), values.map((p) => p[1])];
}

function aggregated(data) {
  const avg = data.avg || [];
  const byStart = (list) => Object.fromEntries((list || []).map(([v, start]) => [start, v]));
  const min = byStart(data.min);
  const max = byStart(data.max);
  const times = avg.map(([, start]) => Date.parse(start) / 1000);
  return [times, avg.map(([v]) => v), avg.map(([, s]) => min[s] ?? null), avg.map(([, s]) => max[s] ?? null)];
}

function plot(attr, series, period) {
  const box = document.getElementById("chart");
  const width = Math.max(320, box.clientWidth || 600);
  const lines = [{}, { label: period ? `${attr} (${t("average")})` : attr, stroke: "#0b5a3c", width: 2 }];
  if (period) {
    lines.push({ label: t("min"), stroke: "#90a4ae", dash: [4, 4] });
    lines.push({ label: t("max"), stroke: "#c62828", dash: [4, 4] });
  }
  const options = { width, height: 320, series: lines, scales: { x: { time: true } } };
  if (chart) chart.destroy();
  chart = new uPlot(options, series, box);
  shownSeries = { attr, series, period };
}

let shownSeries = null;

function chartTable() {
  // The chart's points as a table: time (Vietnam time, ISO 8601) and each series.
  const { attr, series, period } = shownSeries;
  const columns = [t("Time"), period ? `${attr} (${t("average")})` : attr];
  if (period) columns.push(t("min"), t("max"));
  const rows = series[0].map((time, i) => [
    new Date(time * 1000).toISOString(), ...series.slice(1).map((s) => s[i]),
  ]);
  return { title: `${document.getElementById("entity-title").textContent} – ${attr}`, columns, rows };
}

function attributesTable() {
  const rows = [...document.querySelectorAll("#attributes tr")].map((r) => [r.cells[0].textContent, r.cells[1].textContent]);
  return { title: document.getElementById("entity-title").textContent, columns: [t("Attribute"), t("Value")], rows };
}

async function loadDevice() {
  const query = new URLSearchParams({ type: "Device", q: `controlledAsset=="${ENTITY_ID}"`, options: "keyValues" });
  const response = await api(`/ngsi-ld/v1/entities?${query}`);
  const devices = response.ok ? await response.json() : [];
  if (!devices.length) return;
  const device = devices[0];
  const deviceId = device.id.replace("urn:ngsi-ld:Device:", "");
  document.getElementById("device-card").hidden = false;
  const health = document.getElementById("device-health");
  health.replaceChildren();
  const seen = device.dateLastValueReported && device.dateLastValueReported["@value"];
  for (const [label, value] of [[t("State"), device.deviceState], [t("Last seen"), seen ? new Date(seen).toLocaleString(PAGE.lang) : "—"], [t("Device"), deviceId]]) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value || "—";
    health.append(dt, dd);
  }
  await loadCommandNames(deviceId);
  await loadCommands(deviceId);
  document.getElementById("command-form").onsubmit = async (event) => {
    event.preventDefault();
    const name = document.getElementById("command-name").value;
    const text = document.getElementById("command-value").value;
    const value = text === "" ? null : Number.isNaN(Number(text)) ? text : Number(text);
    await api(`/api/devices/${deviceId}/commands`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name, value }),
    });
    await loadCommands(deviceId);
  };
  setInterval(() => loadCommands(deviceId), 5000);
}

async function loadCommandNames(deviceId) {
  const device = await (await api(`/iot/devices/${deviceId}`)).json();
  let names = (device.commands || []).map((c) => c.name);
  if (!names.length) {
    const groups = await (await api("/iot/services?limit=1000")).json();
    const group = groups.services.find((g) => g.apikey === device.apikey);
    names = group ? (group.commands || []).map((c) => c.name) : [];
  }
  const select = document.getElementById("command-name");
  select.replaceChildren(...names.map((n) => new Option(n, n)));
  document.getElementById("command-form").hidden = !names.length;
}

async function loadCommands(deviceId) {
  const response = await api(`/api/devices/${deviceId}/commands`);
  if (!response.ok) return;
  const commands = await response.json();
  // A command just carried out changes the entity: show its new values at once.
  const latest = commands.length ? `${commands[0].id}:${commands[0].status}` : "";
  if (lastCommandState !== null && latest !== lastCommandState) loadEntity();
  lastCommandState = latest;
  const body = document.querySelector("#commands tbody");
  body.replaceChildren();
  for (const command of commands.slice(0, 10)) {
    const row = body.insertRow();
    row.className = `command status-${String(command.status).toLowerCase()}`;
    for (const value of [command.name, JSON.stringify(command.value), command.status, command.result ?? ""]) {
      row.insertCell().textContent = value;
    }
  }
}

document.getElementById("history-attr").addEventListener("change", drawHistory);
exportButtons(document.getElementById("chart-export"), chartTable);
exportButtons(document.getElementById("attributes-export"), attributesTable);
for (const button of document.querySelectorAll("[data-range]")) {
  button.addEventListener("click", () => {
    range = button.dataset.range;
    for (const other of document.querySelectorAll("[data-range]")) {
      other.setAttribute("aria-pressed", String(other === button));
    }
    drawHistory();
  });
}
loadEntity();
loadDevice();
setInterval(loadEntity, 15000);
