// Can Tho Smart, the citizen app: report a problem in a public place (category, its details,
// location, photos), follow one's reports and the city's messages about them, and see the
// city's public reports on a map. Vietnamese by default, installable, starts offline
// (app-sw.js, served as /app/sw.js).
//
// Every call goes through api() from common.js (the CSRF header for cookie writes), told not
// to leave the page on a 401: a visitor may use the app without signing in, and a half-filled
// report must not be lost because a session ended.

const CAN_THO = [105.78, 10.03]; // Ninh Kiều, the city centre
const MAX_PHOTOS = 5;
const MAX_PHOTO_BYTES = 10 * 1024 * 1024;
const PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp"];
const LOCALE = PAGE.lang === "en" ? "en-GB" : "vi-VN";
const TIME_ZONE = "Asia/Ho_Chi_Minh";
const STATE_NAMES = {
  received: t("Received"),
  assigned: t("Assigned for handling"),
  in_progress: t("In progress"),
  need_info: t("More information needed"),
  closed: t("Resolved"),
  merged: t("Merged"),
};
const RATINGS = [t("Very dissatisfied"), t("Dissatisfied"), t("Neutral"), t("Satisfied"), t("Very satisfied")];
const VIEWS = ["report", "mine", "notifications", "map"];

const app = {
  me: null, // the signed-in account, or null
  services: new Map(), // service_code → Open311 service
  photos: [], // File objects chosen, at most MAX_PHOTOS
  checkedNearby: false, // the duplicate check ran for the current location and category
  maps: {},
  notifications: [],
  view: "report",
};
window.citizenApp = app; // read by the browser tests, handy in the console

const $ = (selector) => document.querySelector(selector);

async function call(path, init = {}) {
  // api() without the jump to sign-in; a network failure comes back as status 0.
  try {
    return await api(path, init, { signInOn401: false });
  } catch {
    return new Response(null, { status: 599, statusText: "offline" });
  }
}

function jsonPost(body) {
  return { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}

async function problemText(response) {
  // Open311 errors are [{code, description}]; the platform's are ProblemDetails {title, detail}.
  if (response.status === 599) return t("No connection: try again when you are back online.");
  if (response.status === 401) return t("Your session has ended: sign in again.");
  if (response.status === 429) return t("Too many reports from this device in the last hour: try again later.");
  const body = await response.json().catch(() => null);
  if (Array.isArray(body)) return body.map((e) => e.description).filter(Boolean).join(" · ");
  if (body && (body.detail || body.title)) return body.detail || body.title;
  return `HTTP ${response.status}`;
}

function when(value) {
  if (value === null || value === undefined) return "";
  const date = typeof value === "number" ? new Date(value / 1000) : new Date(value);
  return date.toLocaleString(LOCALE, { timeZone: TIME_ZONE, dateStyle: "short", timeStyle: "short" });
}

function stateBadge(state) {
  return el("span", { className: `state state-${state}` }, STATE_NAMES[state] || state);
}

// --- who is using the app -------------------------------------------------------------------

async function whoAmI() {
  if (!csrfToken()) return null; // no session cookie: nobody to ask about
  const response = await call("/auth/me");
  if (!response.ok) return null;
  const me = await response.json();
  return me.username ? me : null;
}

function showAccount() {
  const signedIn = Boolean(app.me);
  $("#account-name").textContent = signedIn ? app.me.username : "";
  $("#sign-in").hidden = signedIn;
  $("#sign-out").hidden = !signedIn;
  const note = $("#privacy-note");
  note.dataset.mode = signedIn ? "account" : "anonymous";
  $("#privacy-account").hidden = !signedIn;
  $("#privacy-anonymous").hidden = signedIn;
  for (const prompt of document.querySelectorAll(".signed-out-only")) prompt.hidden = signedIn;
  document.body.dataset.signedIn = String(signedIn);
}

$("#sign-out").addEventListener("click", async () => {
  await call("/auth/session", { method: "DELETE" });
  location.href = "/app";
});

// --- views (hash routes) --------------------------------------------------------------------

function showView() {
  const wanted = location.hash.replace("#", "");
  app.view = VIEWS.includes(wanted) ? wanted : "report";
  for (const name of VIEWS) {
    $(`#view-${name}`).hidden = name !== app.view;
    const tab = document.querySelector(`.tabbar a[data-view="${name}"]`);
    if (name === app.view) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  // Sign-in comes back to the screen the visitor was on.
  const next = `/app${app.view === "report" ? "" : "#" + app.view}`;
  for (const link of document.querySelectorAll("a.sign-in-link")) {
    link.href = `/login?next=${encodeURIComponent(next)}`;
  }
  document.body.dataset.view = app.view;
}

function route() {
  showView();
  if (app.view === "report") app.maps.report?.resize();
  if (app.view === "mine") loadMyReports();
  if (app.view === "notifications") openNotifications();
  if (app.view === "map") showPublicMap();
}

window.addEventListener("hashchange", () => {
  route();
  $("#main").focus({ preventScroll: true });
  window.scrollTo(0, 0);
});

function showConnection() {
  $("#offline-banner").hidden = navigator.onLine;
}
window.addEventListener("online", showConnection);
window.addEventListener("offline", showConnection);

// --- the catalogue and a category's details -------------------------------------------------

async function loadServices() {
  const response = await call(`/open311/v2/services.json?locale=${PAGE.lang}`);
  if (!response.ok) {
    showErrors([`${t("Could not load:")} ${await problemText(response)}`]);
    return;
  }
  const services = await response.json();
  const groups = new Map();
  for (const service of services) {
    app.services.set(service.service_code, service);
    if (!groups.has(service.group)) groups.set(service.group, []);
    groups.get(service.group).push(service);
  }
  // Groups and categories in alphabetical order (Vietnamese collation), "Other" last.
  const names = [...groups.keys()].sort((a, b) =>
    (a === t("Other")) - (b === t("Other")) || a.localeCompare(b, LOCALE));
  const select = $("#service-code");
  for (const name of names) {
    const group = el("optgroup", { label: name });
    for (const service of groups.get(name).sort((a, b) => a.service_name.localeCompare(b.service_name, LOCALE))) {
      group.append(new Option(service.service_name, service.service_code));
    }
    select.append(group);
  }
  document.body.dataset.servicesReady = String(services.length);
}

async function showServiceDetails() {
  const code = $("#service-code").value;
  const service = app.services.get(code);
  const box = $("#service-attributes");
  box.replaceChildren();
  $("#service-description").textContent = service ? service.description : "";
  app.checkedNearby = false;
  if (!service || !service.metadata) return;
  const response = await call(`/open311/v2/services/${encodeURIComponent(code)}.json?locale=${PAGE.lang}`);
  if (!response.ok || $("#service-code").value !== code) return;
  const definition = await response.json();
  const attributes = definition.attributes.filter((a) => a.variable).sort((a, b) => a.order - b.order);
  box.replaceChildren(...attributes.map(attributeField));
}

function requiredMark() {
  return el("span", { className: "required", title: t("required") }, "*");
}

function attributeField(attribute) {
  // Open311 datatypes: singlevaluelist → select, multivaluelist → check boxes, text →
  // textarea, number, datetime and string → inputs. The server checks them again.
  const id = `attr-${attribute.code}`;
  const name = `attribute[${attribute.code}]`;
  const hint = attribute.datatype_description
    ? el("p", { className: "hint", id: `${id}-hint` }, attribute.datatype_description) : null;
  if (attribute.datatype === "multivaluelist") {
    const legend = el("legend", {}, attribute.description, attribute.required ? " " : "", attribute.required ? requiredMark() : null);
    const fieldset = el("fieldset", { className: "field choices", id, dataset: { required: String(attribute.required), label: attribute.description } }, legend);
    attribute.values.forEach((value, index) => {
      const box = el("input", { type: "checkbox", name: `${name}[]`, value: value.key, id: `${id}-${index}` });
      fieldset.append(el("div", { className: "choice" }, box, el("label", { for: box.id }, value.name)));
    });
    if (hint) fieldset.append(hint);
    return fieldset;
  }
  let input;
  if (attribute.datatype === "singlevaluelist") {
    input = el("select", {}, new Option(t("Choose…"), ""));
    for (const value of attribute.values) input.append(new Option(value.name, value.key));
  } else if (attribute.datatype === "text") {
    input = el("textarea", { rows: 3, maxLength: 4000 });
  } else if (attribute.datatype === "number") {
    input = el("input", { type: "number", step: "any", inputMode: "decimal" });
  } else if (attribute.datatype === "datetime") {
    input = el("input", { type: "datetime-local" });
    input.dataset.datatype = "datetime";
  } else {
    input = el("input", { type: "text", maxLength: 255 });
  }
  input.id = id;
  input.name = name;
  input.required = attribute.required;
  if (hint) input.setAttribute("aria-describedby", hint.id);
  const label = el("label", { for: id }, attribute.description);
  if (attribute.required) label.append(" ", requiredMark());
  return el("div", { className: "field" }, label, input, hint);
}

$("#service-code").addEventListener("change", showServiceDetails);

// --- location: the device's position, or a pin on the map -----------------------------------

function locationStatus(text) {
  $("#location-status").textContent = text;
}

function setLocation(lat, lon, source, accuracy) {
  $("#lat").value = lat.toFixed(6);
  $("#long").value = lon.toFixed(6);
  const coordinates = `${lat.toLocaleString(LOCALE, { maximumFractionDigits: 5 })}, ${lon.toLocaleString(LOCALE, { maximumFractionDigits: 5 })}`;
  const origin = source === "device" ? t("Your location") : t("Pin on the map");
  const precision = accuracy ? ` (${t("accuracy")} ±${Math.round(accuracy)} m)` : "";
  locationStatus(`${origin}: ${coordinates}${precision}`);
  $("#location-status").dataset.set = "true";
  app.checkedNearby = false;
  $("#nearby").hidden = true;
  const map = app.maps.report;
  if (map) {
    map.getSource("pin")?.setData(point(lon, lat));
    if (source === "device") map.easeTo({ center: [lon, lat], zoom: Math.max(map.getZoom(), 16) });
  }
}

function point(lon, lat) {
  return { type: "FeatureCollection", features: [{ type: "Feature", geometry: { type: "Point", coordinates: [lon, lat] }, properties: {} }] };
}

$("#use-location").addEventListener("click", () => {
  if (!("geolocation" in navigator)) {
    locationStatus(t("This device cannot give its location; place the pin on the map instead."));
    return;
  }
  locationStatus(t("Finding your location…"));
  const button = $("#use-location");
  button.disabled = true;
  navigator.geolocation.getCurrentPosition(
    (position) => {
      button.disabled = false;
      setLocation(position.coords.latitude, position.coords.longitude, "device", position.coords.accuracy);
    },
    (error) => {
      button.disabled = false;
      locationStatus(error.code === error.PERMISSION_DENIED
        ? t("Location access was refused; place the pin on the map instead.")
        : t("Your location could not be found; place the pin on the map instead."));
    },
    { enableHighAccuracy: true, timeout: 20000, maximumAge: 30000 },
  );
});

$("#pin-center").addEventListener("click", () => {
  const map = app.maps.report;
  if (!map) return;
  const centre = map.getCenter();
  setLocation(centre.lat, centre.lng, "map");
});

let maplibrePromise = null;
function maplibre() {
  // Loaded when a map is first shown; the form works without it (no WebGL, not installed).
  maplibrePromise ||= import("/static/vendor/maplibre-gl/maplibre-gl.mjs");
  return maplibrePromise;
}

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

async function geojson(type) {
  const response = await call(`/ngsi-ld/v1/entities?type=${type}&limit=1000`, { headers: { Accept: "application/geo+json" } });
  return response.ok ? response.json() : { type: "FeatureCollection", features: [] };
}

let geography = null;
function cityGeography() {
  // Without a tile server the map draws the platform's own geography: wards and roads.
  geography ||= Promise.all([geojson("AdministrativeArea"), geojson("RoadSegment")]);
  return geography;
}

async function createMap(container, options = {}) {
  const maplibregl = await maplibre();
  const map = new maplibregl.Map({
    container,
    style: baseStyle(),
    center: CAN_THO,
    zoom: 13,
    attributionControl: false,
    locale: {
      "NavigationControl.ZoomIn": t("Zoom in"),
      "NavigationControl.ZoomOut": t("Zoom out"),
      "NavigationControl.ResetBearing": t("Reset north"),
      "Popup.Close": t("Close"),
      "Map.Title": t("Map"),
      "CooperativeGesturesHandler.MobileHelpText": t("Use two fingers to move the map"),
      "CooperativeGesturesHandler.WindowsHelpText": t("Use Ctrl + scroll to zoom the map"),
      "CooperativeGesturesHandler.MacHelpText": t("Use ⌘ + scroll to zoom the map"),
    },
    ...options,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  await new Promise((resolve) => map.once("load", resolve));
  if (!PAGE.tileUrl) {
    const [wards, roads] = await cityGeography();
    map.addSource("wards", { type: "geojson", data: wards });
    map.addLayer({
      id: "ward-areas", type: "fill", source: "wards",
      filter: ["in", ["geometry-type"], ["literal", ["Polygon", "MultiPolygon"]]],
      paint: { "fill-color": "#dfe8e1", "fill-outline-color": "#9fb5a6" },
    });
    map.addSource("roads", { type: "geojson", data: roads });
    map.addLayer({
      id: "roads", type: "line", source: "roads",
      paint: { "line-color": "#b0a48a", "line-width": ["interpolate", ["linear"], ["zoom"], 10, 1, 16, 5] },
    });
  }
  return { map, maplibregl };
}

async function showReportMap() {
  try {
    const { map } = await createMap("report-map", { cooperativeGestures: true });
    map.addSource("pin", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addLayer({
      id: "pin", type: "circle", source: "pin",
      paint: { "circle-radius": 10, "circle-color": "#c62828", "circle-stroke-color": "#ffffff", "circle-stroke-width": 3 },
    });
    map.on("click", (event) => setLocation(event.lngLat.lat, event.lngLat.lng, "map"));
    app.maps.report = map;
    const lat = parseFloat($("#lat").value);
    const lon = parseFloat($("#long").value);
    if (!Number.isNaN(lat)) map.getSource("pin").setData(point(lon, lat));
    document.body.dataset.reportMapReady = "true";
  } catch (error) {
    // No map (no WebGL, packages missing): the location button and the address still work.
    $("#report-map").hidden = true;
    $("#pin-center").hidden = true;
    console.warn("map unavailable", error);
  }
}

// --- photos ---------------------------------------------------------------------------------

function addPhotos(files) {
  const messages = [];
  for (const file of files) {
    if (!PHOTO_TYPES.includes(file.type)) {
      messages.push(`${t("This file is not a JPEG, PNG or WebP photo:")} ${file.name}`);
    } else if (file.size > MAX_PHOTO_BYTES) {
      messages.push(`${t("This photo is larger than 10 MB:")} ${file.name}`);
    } else if (app.photos.length >= MAX_PHOTOS) {
      messages.push(t("At most 5 photos: the extra ones were left out."));
      break;
    } else {
      app.photos.push(file);
    }
  }
  $("#photo-message").textContent = messages.join(" ");
  renderPhotos();
}

function renderPhotos() {
  const list = $("#photo-list");
  for (const image of list.querySelectorAll("img")) URL.revokeObjectURL(image.src);
  list.replaceChildren(...app.photos.map((file, index) => {
    const image = el("img", { src: URL.createObjectURL(file), alt: `${t("Photo")} ${index + 1}`, width: 96, height: 96 });
    const remove = el("button", { type: "button", className: "remove-photo", "aria-label": `${t("Remove photo")} ${index + 1}` }, "×");
    remove.addEventListener("click", () => {
      app.photos.splice(index, 1);
      $("#photo-message").textContent = "";
      renderPhotos();
    });
    return el("li", {}, image, remove);
  }));
  $("#photo-count").textContent = `${app.photos.length}/${MAX_PHOTOS}`;
}

for (const input of [$("#photos"), $("#photos-gallery")]) {
  input.addEventListener("change", () => {
    addPhotos([...input.files]);
    input.value = ""; // the same photo can be chosen again after removing it
  });
}

// --- sending a report -----------------------------------------------------------------------

function showErrors(messages) {
  const box = $("#report-errors");
  box.replaceChildren(...messages.map((m) => el("p", {}, m)));
  box.hidden = messages.length === 0;
  if (messages.length) box.scrollIntoView({ block: "center" });
}

function missingChoices() {
  // A required multivaluelist: at least one box ticked (native validation cannot say so).
  return [...document.querySelectorAll("#service-attributes fieldset.choices[data-required=true]")]
    .filter((set) => !set.querySelector("input:checked"))
    .map((set) => `${t("Choose at least one option for")} “${set.dataset.label}”.`);
}

function isoInVietnam(local) {
  // datetime-local gives "2026-12-04T22:30"; Open311 wants an offset: Vietnam is +07:00.
  return local ? `${local.length === 16 ? local + ":00" : local}+07:00` : "";
}

function reportData() {
  const data = new FormData();
  const form = $("#report-form");
  for (const [key, value] of new FormData(form)) {
    if (value instanceof File) continue; // photos come from app.photos
    const field = form.elements.namedItem(key);
    const isDatetime = field && field.dataset && field.dataset.datatype === "datetime";
    if (typeof value === "string" && value.trim() !== "") data.append(key, isDatetime ? isoInVietnam(value) : value.trim());
  }
  for (const photo of app.photos) data.append("media", photo, photo.name);
  return data;
}

async function nearbyReports(code, lat, lon) {
  const query = new URLSearchParams({ service_code: code, lat, long: lon });
  const response = await call(`/api/citizen/nearby?${query}`);
  return response.ok ? response.json() : [];
}

function showNearby(reports) {
  const list = $("#nearby-list");
  list.replaceChildren(...reports.map((report) => {
    const follow = el("button", { type: "button", className: "follow secondary" }, t("Follow this report"));
    follow.addEventListener("click", () => followReport(report.id));
    return el("li", { dataset: { id: String(report.id) } },
      el("strong", {}, `#${report.id}`), " ", stateBadge(report.state),
      el("p", {}, report.description || ""), follow);
  }));
  $("#nearby-message").replaceChildren();
  $("#nearby").hidden = false;
  $("#nearby").focus();
}

async function followReport(id) {
  const message = $("#nearby-message");
  if (!app.me) {
    message.replaceChildren(t("Sign in to follow a report."), " ",
      el("a", { className: "sign-in-link", href: "/login?next=%2Fapp" }, t("Sign in")));
    return;
  }
  const response = await call(`/api/citizen/reports/${id}/follow`, { method: "POST" });
  message.textContent = response.ok
    ? `${t("You now follow report")} #${id}. ${t("You will be notified when it changes.")}`
    : await problemText(response);
  if (response.ok) message.dataset.followed = String(id);
}

$("#submit-anyway").addEventListener("click", () => {
  app.checkedNearby = true;
  $("#nearby").hidden = true;
  $("#report-form").requestSubmit();
});

$("#report-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const problems = missingChoices();
  const lat = $("#lat").value;
  const lon = $("#long").value;
  if (!lat && !$("#address").value.trim()) {
    problems.push(t("Choose where the problem is: use your location, tap the map or write an address."));
  }
  showErrors(problems);
  if (problems.length) return;
  const button = $("#submit-report");
  button.disabled = true;
  try {
    const code = $("#service-code").value;
    if (lat && !app.checkedNearby) {
      // Already reported within 50 m? Offer to follow it rather than file a duplicate.
      button.textContent = t("Checking for similar reports nearby…");
      const nearby = await nearbyReports(code, lat, lon);
      app.checkedNearby = true;
      if (nearby.length) {
        showNearby(nearby);
        return;
      }
    }
    button.textContent = t("Sending…");
    const response = await call("/open311/v2/requests.json", { method: "POST", body: reportData() });
    if (!response.ok) {
      showErrors([`${t("The report could not be sent:")} ${await problemText(response)}`]);
      return;
    }
    const [created] = await response.json();
    showResult(created.service_request_id);
  } finally {
    button.disabled = false;
    button.textContent = button.dataset.label;
  }
});

function showResult(id) {
  $("#report-form").hidden = true;
  const result = $("#report-result");
  result.dataset.reportId = id;
  $("#report-number").textContent = `#${id}`;
  $("#result-account").hidden = !app.me;
  $("#result-anonymous").hidden = Boolean(app.me);
  result.hidden = false;
  result.focus();
  window.scrollTo(0, 0);
}

function resetForm() {
  $("#report-form").reset();
  $("#service-attributes").replaceChildren();
  $("#service-description").textContent = "";
  app.photos = [];
  renderPhotos();
  $("#photo-message").textContent = "";
  $("#lat").value = "";
  $("#long").value = "";
  delete $("#location-status").dataset.set;
  locationStatus(t("No location chosen yet."));
  app.maps.report?.getSource("pin")?.setData({ type: "FeatureCollection", features: [] });
  app.checkedNearby = false;
  $("#nearby").hidden = true;
  showErrors([]);
}

$("#new-report").addEventListener("click", () => {
  resetForm();
  $("#report-result").hidden = true;
  $("#report-form").hidden = false;
  app.maps.report?.resize();
  $("#service-code").focus();
});

// --- my reports -----------------------------------------------------------------------------

async function loadMyReports() {
  if (!app.me) return;
  const response = await call("/api/citizen/my/reports");
  if (!response.ok) return;
  const reports = await response.json();
  const list = $("#my-reports");
  list.replaceChildren(...reports.map(myReport));
  $("#mine-empty").hidden = reports.length > 0;
  document.body.dataset.myReportsReady = String(reports.length);
}

function serviceName(code) {
  return app.services.get(code)?.service_name || code;
}

function myReport(report) {
  const item = el("li", { className: "report card", dataset: { id: String(report.id), state: report.state } });
  item.append(
    el("h2", {}, `#${report.id} · ${serviceName(report.service_code)}`),
    el("p", { className: "meta" }, stateBadge(report.state), " ", `${t("Requested")} ${when(report.requested_at)}`),
  );
  if (report.description) item.append(el("p", {}, report.description));
  if (report.address) item.append(el("p", { className: "meta" }, report.address));
  if (!["closed", "merged"].includes(report.state) && report.due_at) {
    item.append(el("p", { className: "meta" }, `${t("Deadline")}: ${when(report.due_at)}`));
  }
  if (report.result) item.append(el("p", { className: "result-text" }, el("strong", {}, `${t("Result")}: `), report.result));
  const history = el("ol", { className: "history" });
  for (const entry of report.history || []) {
    history.append(el("li", {}, el("time", {}, when(entry.at)), " ", STATE_NAMES[entry.state] || entry.state,
      entry.note ? `: ${entry.note}` : ""));
  }
  item.append(history);
  if (report.state === "need_info") item.append(answerForm(report));
  if (report.state === "closed" && report.rating === null) item.append(ratingForm(report));
  if (report.rating !== null && report.rating !== undefined) {
    item.append(el("p", { className: "rated" }, `${t("Your rating")}: ${"★".repeat(report.rating)}${"☆".repeat(5 - report.rating)} (${report.rating}/5)`));
  }
  return item;
}

function answerForm(report) {
  const question = [...(report.history || [])].reverse().find((e) => e.state === "need_info" && e.note);
  const id = report.id;
  const form = el("form", { className: "answer-form", id: `answer-form-${id}` });
  if (question) form.append(el("p", { className: "question" }, el("strong", {}, t("The department asks:")), " ", question.note));
  const text = el("textarea", { id: `answer-text-${id}`, name: "text", rows: 3, maxLength: 4000, required: true });
  const error = el("p", { className: "error", role: "alert", hidden: true });
  form.append(el("label", { for: text.id }, t("Your answer")), text, el("button", { type: "submit", className: "primary" }, t("Send the answer")), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const response = await call(`/api/citizen/reports/${id}/answer`, jsonPost({ text: text.value }));
    if (!response.ok) {
      error.textContent = await problemText(response);
      error.hidden = false;
      return;
    }
    await loadMyReports();
  });
  return form;
}

function ratingForm(report) {
  const id = report.id;
  const form = el("form", { className: "rating-form", id: `rating-form-${id}` });
  const stars = el("fieldset", { className: "stars" }, el("legend", {}, t("How satisfied are you with the result?")));
  RATINGS.forEach((name, index) => {
    const value = index + 1;
    const radio = el("input", { type: "radio", name: "rating", value: String(value), id: `rating-${id}-${value}`, required: true });
    stars.append(radio, el("label", { for: radio.id }, el("span", { className: "star", "aria-hidden": "true" }, "★".repeat(value)), el("span", {}, ` ${value} – ${name}`)));
  });
  const comment = el("textarea", { id: `rating-comment-${id}`, name: "comment", rows: 2, maxLength: 2000 });
  const error = el("p", { className: "error", role: "alert", hidden: true });
  form.append(stars, el("label", { for: comment.id }, t("Comment (optional)")), comment,
    el("button", { type: "submit", className: "primary" }, t("Send the rating")), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const rating = Number(new FormData(form).get("rating"));
    const body = { rating, comment: comment.value.trim() || null };
    const response = await call(`/api/citizen/reports/${id}/rating`, jsonPost(body));
    if (!response.ok) {
      error.textContent = await problemText(response);
      error.hidden = false;
      return;
    }
    await loadMyReports();
    $("#mine-message").textContent = t("Thank you for your rating.");
  });
  return form;
}

// --- notifications --------------------------------------------------------------------------

async function loadNotifications() {
  if (!app.me) return;
  const response = await call("/api/citizen/my/notifications");
  if (!response.ok) return;
  app.notifications = await response.json();
  showBadge();
  if (app.view === "notifications") renderNotifications();
}

function showBadge() {
  const unread = app.notifications.filter((n) => !n.read).length;
  const badge = $("#notification-count");
  badge.textContent = String(unread);
  badge.hidden = unread === 0;
  $("#notification-unread").hidden = unread === 0;
  document.body.dataset.unread = String(unread);
}

function renderNotifications() {
  const list = $("#notifications");
  list.replaceChildren(...app.notifications.map((n) => el("li", { className: n.read ? "read" : "unread", dataset: { id: String(n.id), report: String(n.request_id) } },
    el("p", {}, PAGE.lang === "en" ? n.text_en : n.text_vi), el("time", {}, when(n.at)))));
  $("#notifications-empty").hidden = app.notifications.length > 0 || !app.me;
}

async function openNotifications() {
  await loadNotifications();
  renderNotifications();
  if (!app.notifications.some((n) => !n.read)) return;
  // Shown as unread this time; read from now on.
  const response = await call("/api/citizen/my/notifications/read", { method: "POST" });
  if (response.ok) {
    for (const n of app.notifications) n.read = true;
    showBadge();
  }
}

// --- the public map and list ----------------------------------------------------------------

async function loadPublicReports() {
  const status = $("#public-status").value;
  const query = new URLSearchParams({ locale: PAGE.lang });
  if (status) query.set("status", status);
  const response = await call(`/open311/v2/requests.json?${query}`);
  const reports = response.ok ? await response.json() : [];
  $("#public-count").textContent = `${reports.length.toLocaleString(LOCALE)} ${t("reports in the last 90 days")}`;
  $("#public-reports").replaceChildren(...reports.map(publicReport));
  const features = reports.filter((r) => r.lat !== null && r.long !== null).map((r) => ({
    type: "Feature",
    geometry: { type: "Point", coordinates: [r.long, r.lat] },
    properties: { id: r.service_request_id, status: r.status },
  }));
  app.maps.public?.getSource("reports")?.setData({ type: "FeatureCollection", features });
  document.body.dataset.publicReady = String(reports.length);
  return features;
}

function publicReport(report) {
  const item = el("li", { className: "public-report", dataset: { id: report.service_request_id, status: report.status } });
  const label = report.status === "closed" ? t("Closed report") : t("Open report");
  item.append(
    el("h2", {}, `#${report.service_request_id} · ${report.service_name || t("Unknown category")}`),
    el("p", { className: "meta" }, el("span", { className: `state status-${report.status}` }, label), " ", when(report.requested_datetime)),
  );
  if (report.media_url) {
    // Our own path, whatever host name the platform put in the link (a proxy in between).
    const photo = new URL(report.media_url, location.href);
    item.append(el("img", { src: photo.pathname + photo.search, alt: `${t("Photo of report")} #${report.service_request_id}`, loading: "lazy", width: 96, height: 96, className: "thumb" }));
  }
  if (report.description) item.append(el("p", {}, report.description));
  if (report.address) item.append(el("p", { className: "meta" }, report.address));
  if (report.status_notes) item.append(el("p", { className: "meta" }, report.status_notes));
  if (report.lat !== null && report.long !== null) {
    item.tabIndex = 0;
    const focus = () => app.maps.public?.easeTo({ center: [report.long, report.lat], zoom: 16 });
    item.addEventListener("click", focus);
    item.addEventListener("keydown", (event) => { if (event.key === "Enter") focus(); });
  }
  return item;
}

async function showPublicMap() {
  const features = await loadPublicReports();
  if (app.maps.public || app.maps.publicPending) {
    app.maps.public?.resize();
    return;
  }
  app.maps.publicPending = true;
  try {
    const { map, maplibregl } = await createMap("public-map", { zoom: 12, cooperativeGestures: true });
    map.addSource("reports", { type: "geojson", data: { type: "FeatureCollection", features } });
    map.addLayer({
      id: "reports", type: "circle", source: "reports",
      paint: {
        "circle-radius": 7,
        "circle-color": ["match", ["get", "status"], "closed", "#2e7d32", "#c62828"],
        "circle-stroke-color": "#ffffff", "circle-stroke-width": 2,
      },
    });
    if (features.length) {
      // Every report in view (the city is wide since the 2025 merger).
      const bounds = new maplibregl.LngLatBounds(features[0].geometry.coordinates, features[0].geometry.coordinates);
      for (const feature of features) bounds.extend(feature.geometry.coordinates);
      map.fitBounds(bounds, { padding: 40, maxZoom: 15, duration: 0 });
    }
    map.on("click", "reports", (event) => {
      const item = document.querySelector(`#public-reports li[data-id="${event.features[0].properties.id}"]`);
      item?.scrollIntoView({ block: "nearest" });
      item?.focus();
    });
    app.maps.public = map;
  } catch (error) {
    $("#public-map").hidden = true;
    console.warn("map unavailable", error);
  }
}

$("#public-status").addEventListener("change", loadPublicReports);

// --- start ----------------------------------------------------------------------------------

async function start() {
  $("#submit-report").dataset.label = $("#submit-report").textContent;
  showConnection();
  renderPhotos();
  showView();
  app.me = await whoAmI();
  showAccount();
  await loadServices();
  route();
  document.body.dataset.appReady = "true";
  if (app.me) {
    if (app.view !== "notifications") await loadNotifications();
    setInterval(loadNotifications, 30000);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") loadNotifications();
    });
  }
  showReportMap();
  if ("serviceWorker" in navigator) {
    // Served from /app/ with Service-Worker-Allowed: /app, so that it controls /app itself.
    navigator.serviceWorker.register("/app/sw.js", { scope: "/app" }).catch((error) => {
      console.warn("service worker not registered", error);
    });
  }
}

start();
