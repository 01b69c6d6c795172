// The operations dashboard: the city map with the domains' layers, and the live alerts.
// Markers come from /api/map/layers/{key} as compact arrays and are drawn by MapLibre GL
// (WebGL, clustered), which keeps tens of thousands of devices smooth. The base map is the
// platform's own geography (wards, roads) unless a tile server is configured.
import * as maplibregl from "/static/vendor/maplibre-gl/maplibre-gl.mjs";

const CAN_THO = [105.75, 10.03];
const REFRESH_MS = 10000;
const state = { layers: {}, counts: {}, alerts: [] };
window.iocState = state; // read by the browser tests and handy in the console

function baseStyle() {
  const style = {
    version: 8,
    sources: {},
    layers: [{ id: "background", type: "background", paint: { "background-color": "#eef2f0" } }],
  };
  if (PAGE.tileUrl) {
    style.sources.tiles = { type: "raster", tiles: [PAGE.tileUrl], tileSize: 256 };
    style.layers.push({ id: "tiles", type: "raster", source: "tiles" });
  }
  return style;
}

const map = new maplibregl.Map({
  container: "map",
  style: baseStyle(),
  center: CAN_THO,
  zoom: 11,
  attributionControl: false,
});
map.addControl(new maplibregl.NavigationControl(), "top-right");
map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");

async function geojson(type) {
  const response = await api(`/ngsi-ld/v1/entities?type=${type}&limit=1000`, {
    headers: { Accept: "application/geo+json" },
  });
  return response.ok ? response.json() : { type: "FeatureCollection", features: [] };
}

async function addGeography() {
  // Wards (polygons once boundaries are imported, else their centres) and the road network.
  const [wards, roads] = await Promise.all([geojson("AdministrativeArea"), geojson("RoadSegment")]);
  // Fetched alongside the marker layers: drawn under whichever of them arrived first.
  const under = (map.getStyle().layers.find((l) => /-(clusters|count|points)$/.test(l.id)) || {}).id;
  map.addSource("wards", { type: "geojson", data: wards });
  map.addLayer({
    id: "ward-areas", type: "fill", source: "wards",
    filter: ["in", ["geometry-type"], ["literal", ["Polygon", "MultiPolygon"]]],
    paint: { "fill-color": "#dfe8e1", "fill-outline-color": "#9fb5a6" },
  }, under);
  map.addLayer({
    id: "ward-names", type: "circle", source: "wards",
    filter: ["==", ["geometry-type"], "Point"],
    paint: { "circle-radius": 2, "circle-color": "#9fb5a6" },
  }, under);
  map.addSource("roads", { type: "geojson", data: roads });
  map.addLayer({
    id: "roads", type: "line", source: "roads",
    paint: { "line-color": "#b0a48a", "line-width": ["interpolate", ["linear"], ["zoom"], 10, 1, 15, 4] },
  }, under);
}

function toGeoJSON(packed) {
  const features = new Array(packed.count);
  for (let i = 0; i < packed.count; i++) {
    features[i] = {
      type: "Feature",
      geometry: { type: "Point", coordinates: [packed.lon[i], packed.lat[i]] },
      properties: { id: packed.id[i], name: packed.name[i], v: packed.v[i], c: packed.c[i] },
    };
  }
  return { type: "FeatureCollection", features };
}

async function loadLayer(layer) {
  const response = await api(`/api/map/layers/${layer.key}`);
  if (!response.ok) return;
  const packed = await response.json();
  state.counts[layer.key] = packed.count;
  const data = toGeoJSON(packed);
  const source = map.getSource(`layer-${layer.key}`);
  if (source) {
    source.setData(data);
    return;
  }
  map.addSource(`layer-${layer.key}`, {
    type: "geojson", data, cluster: true, clusterRadius: 40, clusterMaxZoom: 14,
  });
  const visibility = layer.visible ? "visible" : "none";
  map.addLayer({
    id: `${layer.key}-clusters`, type: "circle", source: `layer-${layer.key}`,
    filter: ["has", "point_count"], layout: { visibility },
    paint: {
      "circle-color": "#455a64", "circle-opacity": 0.75,
      "circle-radius": ["step", ["get", "point_count"], 12, 50, 16, 500, 22],
    },
  });
  map.addLayer({
    id: `${layer.key}-count`, type: "symbol", source: `layer-${layer.key}`,
    filter: ["has", "point_count"], layout: { visibility, "text-field": ["get", "point_count_abbreviated"], "text-size": 11 },
    paint: { "text-color": "#ffffff" },
  });
  map.addLayer({
    id: `${layer.key}-points`, type: "circle", source: `layer-${layer.key}`,
    filter: ["!", ["has", "point_count"]], layout: { visibility },
    paint: {
      "circle-color": ["get", "c"], "circle-radius": 6,
      "circle-stroke-color": "#ffffff", "circle-stroke-width": 1,
    },
  });
  map.on("click", `${layer.key}-points`, (event) => showPopup(layer, event.features[0]));
  map.on("mouseenter", `${layer.key}-points`, () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", `${layer.key}-points`, () => { map.getCanvas().style.cursor = ""; });
}

function legendItem(layer) {
  const item = document.createElement("li");
  const label = document.createElement("label");
  const box = document.createElement("input");
  box.type = "checkbox";
  box.checked = layer.visible;
  box.dataset.layer = layer.key;
  box.addEventListener("change", () => setVisible(layer, box.checked));
  const count = document.createElement("span");
  count.className = "count";
  count.id = `count-${layer.key}`;
  label.append(box, " ", layer.title[PAGE.lang] || layer.title.vi, " ", count);
  const swatches = document.createElement("span");
  swatches.className = "swatches";
  for (const entry of layer.legend) {
    const swatch = document.createElement("i");
    swatch.className = "swatch";
    swatch.dataset.color = entry.color;
    swatch.title = entry.value !== undefined ? String(entry.value) : `≤ ${entry.upTo} ${layer.unit}`;
    swatches.append(swatch);
  }
  item.append(label, swatches);
  return item;
}

function paintSwatches() {
  // Colours go through the CSSOM (allowed by the page's policy, unlike style attributes).
  for (const swatch of document.querySelectorAll(".swatch")) {
    swatch.style.backgroundColor = swatch.dataset.color;
  }
}

function setVisible(layer, visible) {
  layer.visible = visible;
  for (const part of ["clusters", "count", "points"]) {
    map.setLayoutProperty(`${layer.key}-${part}`, "visibility", visible ? "visible" : "none");
  }
  updateStatus();
}

function updateStatus() {
  let shown = 0;
  for (const layer of Object.values(state.layers)) {
    const count = state.counts[layer.key] || 0;
    const label = document.getElementById(`count-${layer.key}`);
    if (label) label.textContent = `(${count.toLocaleString(PAGE.lang)})`;
    if (layer.visible) shown += count;
  }
  document.getElementById("map-status").textContent =
    `${shown.toLocaleString(PAGE.lang)} ${t("devices")}`;
}

async function showPopup(layer, feature) {
  const id = feature.properties.id;
  const response = await api(`/ngsi-ld/v1/entities/${encodeURIComponent(id)}?options=keyValues`);
  const entity = response.ok ? await response.json() : {};
  const box = document.createElement("div");
  box.className = "popup";
  const title = document.createElement("h3");
  title.textContent = entity.name || id;
  const table = document.createElement("table");
  for (const [key, value] of Object.entries(entity)) {
    if (["id", "type", "name", "location", "@context"].includes(key)) continue;
    if (typeof value === "object" && value !== null) continue;
    const row = table.insertRow();
    row.insertCell().textContent = key;
    row.insertCell().textContent = typeof value === "number" ? value.toLocaleString(PAGE.lang) : String(value);
  }
  const link = document.createElement("a");
  link.href = `/ioc/entities/${encodeURIComponent(id)}`;
  link.textContent = t("Open entity");
  box.append(title, table, link);
  new maplibregl.Popup({ maxWidth: "320px" })
    .setLngLat(feature.geometry.coordinates).setDOMContent(box).addTo(map);
}

async function loadLayers() {
  const response = await api("/api/map/layers");
  const { layers } = await response.json();
  const list = document.getElementById("layer-list");
  for (const layer of layers) {
    state.layers[layer.key] = layer;
    list.append(legendItem(layer));
  }
  paintSwatches();
  await Promise.all(layers.map(loadLayer));
  updateStatus();
  // Ready once the markers are drawn (clustering runs in a worker), not merely fetched.
  map.once("idle", () => { document.body.dataset.mapReady = "true"; });
  map.triggerRepaint();
  setInterval(async () => {
    await Promise.all(Object.values(state.layers).filter((l) => l.visible).map(loadLayer));
    updateStatus();
  }, REFRESH_MS);
}

// --- KPI tiles -----------------------------------------------------------------------------

const TREND_ARROWS = { up: "▲", down: "▼", flat: "■" };

async function loadKpis() {
  const response = await api("/api/kpis");
  if (!response.ok) return;
  const { kpis } = await response.json();
  const list = document.getElementById("kpis");
  list.replaceChildren(...kpis.map(kpiTile));
  document.body.dataset.kpisReady = String(kpis.length);
}

function kpiTile(kpi) {
  const tile = document.createElement("li");
  tile.className = `kpi trend-${kpi.trend || "none"}`;
  tile.dataset.kpi = kpi.key;
  const title = document.createElement("span");
  title.className = "kpi-title";
  title.textContent = kpi.title[PAGE.lang] || kpi.title.vi;
  const value = document.createElement("strong");
  value.className = "kpi-value";
  const digits = Number.isInteger(kpi.value) ? 0 : 1;
  value.textContent = kpi.value === null ? "—"
    : `${kpi.value.toLocaleString(PAGE.lang, { maximumFractionDigits: digits })} ${kpi.unit}`.trim();
  const trend = document.createElement("small");
  trend.className = "kpi-trend";
  if (kpi.trend) {
    const before = kpi.yesterday.toLocaleString(PAGE.lang, { maximumFractionDigits: 1 });
    trend.textContent = `${TREND_ARROWS[kpi.trend]} ${t("yesterday")}: ${before}`;
  } else {
    trend.textContent = t("no comparison yet");
  }
  tile.append(title, value, trend);
  return tile;
}

// --- alerts --------------------------------------------------------------------------------

const SEVERITY_ORDER = { critical: 0, high: 1, medium: 2, low: 3 };

async function loadAlerts() {
  const response = await api("/api/alerts?status=open&status=acknowledged&limit=200");
  if (!response.ok) return;
  state.alerts = await response.json();
  state.alerts.sort((a, b) => (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9));
  renderAlerts();
}

function alertsTable() {
  const columns = ["id", t("Severity"), t("Status"), t("Alert"), t("Subject"), t("Opened"), t("Department")];
  const rows = state.alerts.map((a) => [a.id, t(a.severity), t(a.status), a.title, a.subject_id, a.opened_at, a.department]);
  return { title: t("Alerts"), columns, rows };
}
exportButtons(document.getElementById("alerts-export"), alertsTable);

function renderAlerts() {
  const list = document.getElementById("alert-list");
  list.replaceChildren();
  if (!state.alerts.length) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = t("No open alerts");
    list.append(empty);
    return;
  }
  for (const alert of state.alerts) list.append(alertItem(alert));
}

function alertItem(alert) {
  const item = document.createElement("li");
  item.className = `alert severity-${alert.severity} status-${alert.status}`;
  item.dataset.alertId = alert.id;
  const title = document.createElement("strong");
  title.textContent = alert.title;
  const meta = document.createElement("small");
  const when = alert.last_fired_at || alert.opened_at;
  meta.textContent = `${t(alert.severity)} · ${t(alert.status)} · ${new Date(when).toLocaleString(PAGE.lang)}`;
  item.append(title, meta);
  const actions = document.createElement("span");
  actions.className = "actions";
  if (alert.status === "open") actions.append(button(t("Acknowledge"), () => act(alert, "acknowledge")));
  actions.append(button(t("Resolve"), () => act(alert, "resolve")));
  item.append(actions);
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = t("Details");
  details.append(summary);
  details.addEventListener("toggle", () => {
    if (details.open) {
      openAlerts.add(alert.id);
      fillDetails(alert, details);
    } else {
      openAlerts.delete(alert.id);
    }
  });
  item.append(details);
  if (openAlerts.has(alert.id)) details.open = true;
  return item;
}

const openAlerts = new Set();

async function fillDetails(alert, details) {
  // Timeline, comment, assignment and promotion to an incident with its SOP.
  const response = await api(`/api/alerts/${alert.id}`);
  if (!response.ok) return;
  const full = await response.json();
  for (const old of details.querySelectorAll(".detail")) old.remove();
  const box = document.createElement("div");
  box.className = "detail";
  const timeline = document.createElement("ol");
  timeline.className = "timeline";
  for (const entry of full.timeline) {
    const li = document.createElement("li");
    const when = typeof entry.at === "number" ? new Date(entry.at / 1000) : new Date(entry.at);
    const text = entry.detail && (entry.detail.text || entry.detail.note || entry.detail.department || entry.detail.user);
    li.textContent = `${when.toLocaleString(PAGE.lang)} · ${entry.actor} · ${t(entry.kind)}${text ? ": " + text : ""}`;
    timeline.append(li);
  }
  box.append(timeline);
  box.append(smallForm(t("Comment"), "comment-text", async (value) => {
    await api(`/api/alerts/${alert.id}/comments`, jsonBody({ text: value }));
  }));
  box.append(smallForm(t("Assign to department"), "assign-department", async (value) => {
    await api(`/api/alerts/${alert.id}/assign`, jsonBody({ department: value }));
  }));
  box.append(smallForm(t("Assign to person"), "assign-user", async (value) => {
    await api(`/api/alerts/${alert.id}/assign`, jsonBody({ user: value }));
  }));
  box.append(await promoteForm(alert));
  details.append(box);
}

function jsonBody(body) {
  return { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}

function smallForm(label, name, submit) {
  const form = document.createElement("form");
  form.className = `small-form ${name}`;
  const input = document.createElement("input");
  input.name = name;
  input.required = true;
  input.setAttribute("aria-label", label);
  input.placeholder = label;
  const send = document.createElement("button");
  send.type = "submit";
  send.textContent = label;
  form.append(input, send);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await submit(input.value);
    input.value = "";
    await loadAlerts();
  });
  return form;
}

async function promoteForm(alert) {
  const form = document.createElement("form");
  form.className = "small-form promote";
  const select = document.createElement("select");
  select.setAttribute("aria-label", t("Incident type"));
  const types = await (await api("/api/incident-types")).json();
  for (const type of types) {
    select.append(new Option(PAGE.lang === "en" ? type.name_en : type.name_vi, type.code));
  }
  const send = document.createElement("button");
  send.type = "submit";
  send.textContent = t("Promote to incident");
  form.append(select, send);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const response = await api("/api/incidents", jsonBody({ type: select.value, alerts: [alert.id] }));
    if (response.ok) location.href = `/ioc/incidents/${(await response.json()).id}`;
  });
  return form;
}

function button(label, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  element.addEventListener("click", onClick);
  return element;
}

async function act(alert, action) {
  const response = await api(`/api/alerts/${alert.id}/${action}`, { method: "POST" });
  if (response.ok) await loadAlerts();
}

function followAlerts() {
  // Server-sent events: any alert or incident change refreshes the list (no reload).
  const live = document.getElementById("live-state");
  const source = new EventSource("/api/alerts/stream");
  source.addEventListener("ready", () => { live.textContent = t("Live"); live.className = "live on"; });
  source.onmessage = loadAlerts;
  for (const topic of ["alert.opened", "alert.fired", "alert.acknowledged", "alert.resolved",
    "alert.cleared", "alert.escalated", "alert.assigned", "alert.commented"]) {
    source.addEventListener(topic, loadAlerts);
  }
  source.onerror = () => { live.textContent = t("Connection lost; reconnecting…"); live.className = "live off"; };
}

async function showUser() {
  const response = await api("/auth/me");
  if (!response.ok) return;
  const me = await response.json();
  document.getElementById("user-name").textContent = `${t("Signed in as")} ${me.username}`;
  document.getElementById("sign-out").addEventListener("click", async () => {
    await api("/auth/session", { method: "DELETE" });
    location.href = "/login";
  });
}

// --- video-wall mode (/ioc?wall=1): full screen, large type, views rotating on their own ---

const WALL = new URLSearchParams(location.search).has("wall");
const WALL_VIEW_MS = 30000;
const WALL_VIEWS = [
  { title: "Whole city", layers: null, center: CAN_THO, zoom: 10.5 },
  { title: "Water: river level, flooding, salinity", layers: ["river-level", "street-flood", "salinity", "sluice-gates"], center: [105.85, 9.85], zoom: 8.6 },
  { title: "Traffic", layers: ["traffic"], center: [105.77, 10.03], zoom: 12 },
  { title: "Street lights and waste", layers: ["streetlights", "waste-bins"], center: [105.77, 10.03], zoom: 12.5 },
  { title: "Air quality and public order", layers: ["air", "public-order"], center: [105.75, 10.03], zoom: 11 },
];
let wallIndex = 0;

function showWallView() {
  const view = WALL_VIEWS[wallIndex % WALL_VIEWS.length];
  wallIndex += 1;
  for (const layer of Object.values(state.layers)) {
    const wanted = view.layers ? view.layers.includes(layer.key) : layer.defaultVisible;
    if (layer.visible !== wanted) setVisible(layer, wanted);
  }
  map.easeTo({ center: view.center, zoom: view.zoom, duration: 2000 });
  document.getElementById("wall-title").textContent = t(view.title);
}

function startWall() {
  document.body.classList.add("wall");
  const title = document.createElement("p");
  title.id = "wall-title";
  title.className = "wall-title";
  document.querySelector(".map-wrap").append(title);
  const full = button(t("Full screen"), () => document.documentElement.requestFullscreen());
  full.id = "full-screen";
  document.querySelector(".topnav").prepend(full);
  for (const layer of Object.values(state.layers)) layer.defaultVisible = layer.visible;
  showWallView();
  setInterval(showWallView, WALL_VIEW_MS);
  // A wall runs for days: reload now and then to pick up a new version of the platform.
  setTimeout(() => location.reload(), 6 * 3600 * 1000);
  map.resize();
}

map.on("load", async () => {
  await Promise.all([addGeography(), loadLayers()]);
  if (WALL) startWall();
});
showUser();
loadKpis();
setInterval(loadKpis, 30000);
loadAlerts();
followAlerts();
