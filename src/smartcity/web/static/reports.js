// The departments' queue of citizen reports: the indicators (QĐ 766), the reports of the
// officer's departments (every department for operators) by state with their deadlines, and
// one report's details with the work on it: assign, start, ask the citizen, notes, close with
// a result photo, merge a duplicate, moderate the public text. The reporter's contact is shown
// only on request (an audited read). Refusals are shown as the API words them.
"use strict";

const LOCALE = PAGE.lang === "en" ? "en-GB" : "vi-VN";
const OPEN_STATES = ["received", "assigned", "in_progress", "need_info"];
const STATE_NAMES = {
  received: t("Received"),
  assigned: t("Assigned for handling"),
  in_progress: t("In progress"),
  need_info: t("More information needed"),
  closed: t("Resolved"),
  merged: t("Merged"),
};
const KIND_NAMES = {
  received: t("Received"),
  assigned: t("Assigned for handling"),
  in_progress: t("In progress"),
  need_info: t("More information needed"),
  answered: t("The citizen answered"),
  note: t("Note"),
  closed: t("Resolved"),
  merged: t("Merged"),
  moderated: t("Public text changed"),
  hidden: t("Hidden from the public"),
  rated: t("Rated by the citizen"),
};
const state = { rows: [], names: {}, definitions: {}, current: null };
window.reportsState = state; // read by the browser tests, handy in the console

const $ = (selector) => document.querySelector(selector);

function when(value) {
  if (value === null || value === undefined) return "";
  const date = typeof value === "number" ? new Date(value / 1000) : new Date(value);
  return date.toLocaleString(LOCALE, { timeZone: "Asia/Ho_Chi_Minh", dateStyle: "short", timeStyle: "short" });
}

function isOverdue(row) {
  return OPEN_STATES.includes(row.state) && row.due_at && row.due_at / 1000 < Date.now();
}

async function problemText(response) {
  const body = await response.json().catch(() => null);
  if (body && (body.detail || body.title)) return body.detail || body.title;
  return `HTTP ${response.status}`;
}

function number(value, digits = 1) {
  return value === null || value === undefined ? "—" : value.toLocaleString(LOCALE, { maximumFractionDigits: digits });
}

// --- indicators and the queue ---------------------------------------------------------------

async function loadIndicators() {
  const response = await api("/api/citizen/indicators");
  if (!response.ok) return;
  const values = await response.json();
  const shown = {
    onTimeRate: values.onTimeRate === null ? "—" : `${number(values.onTimeRate)} %`,
    satisfactionRate: values.satisfactionRate === null ? "—" : `${number(values.satisfactionRate)} %`,
    medianHoursToClose: values.medianHoursToClose === null ? "—" : `${number(values.medianHoursToClose)} ${t("hours")}`,
  };
  for (const [key, text] of Object.entries(shown)) {
    $(`#report-indicators [data-indicator="${key}"] .kpi-value`).textContent = text;
  }
  document.body.dataset.indicatorsReady = "true";
}

async function loadNames() {
  const response = await api("/api/citizen/catalogue");
  if (!response.ok) return;
  for (const entry of await response.json()) {
    state.names[entry.code] = PAGE.lang === "en" ? entry.name_en : entry.name_vi;
  }
}

async function loadQueue() {
  const wanted = $("#report-state").value;
  const response = await api(`/api/citizen/queue${wanted ? `?state=${wanted}` : ""}`);
  const error = $("#queue-error");
  if (!response.ok) {
    error.textContent = response.status === 403
      ? t("This page is for the officers who handle citizen reports.") : await problemText(response);
    error.hidden = false;
    return;
  }
  error.hidden = true;
  state.rows = await response.json();
  const body = $("#report-queue tbody");
  body.replaceChildren(...state.rows.map(queueRow));
  $("#queue-empty").hidden = state.rows.length > 0;
  document.body.dataset.queueReady = String(state.rows.length);
}

function queueRow(row) {
  const tr = el("tr", { className: `report${row.id === state.current ? " selected" : ""}`, dataset: { id: String(row.id), state: row.state } });
  const open = el("button", { type: "button", className: "link open-report", "aria-label": `${t("Details")} #${row.id}` }, `#${row.id}`);
  open.addEventListener("click", () => showReport(row.id));
  tr.addEventListener("click", (event) => { if (event.target === tr || event.target.tagName === "TD") showReport(row.id); });
  const description = row.description || "";
  const overdue = isOverdue(row);
  const deadline = el("td", { className: overdue ? "overdue" : "" }, when(row.due_at), overdue ? ` (${t("overdue")})` : "");
  tr.append(
    el("td", {}, open),
    el("td", {}, state.names[row.service_code] || row.service_code),
    el("td", { className: "description", title: description }, description.length > 90 ? `${description.slice(0, 90)}…` : description),
    el("td", {}, row.ward || "—"),
    deadline,
    el("td", {}, el("span", { className: `state state-${row.state}` }, STATE_NAMES[row.state] || row.state)),
  );
  return tr;
}

function queueTable() {
  const columns = ["#", t("Category"), t("Description"), t("Ward"), t("Deadline"), t("Status")];
  const rows = state.rows.map((r) => [r.id, state.names[r.service_code] || r.service_code, r.description || "",
    r.ward || "", when(r.due_at), STATE_NAMES[r.state] || r.state]);
  return { title: t("Citizen reports"), columns, rows };
}

// --- one report -----------------------------------------------------------------------------

async function definition(code) {
  // The category's attributes with their names, to show "Kích thước: Lớn" rather than codes.
  if (!(code in state.definitions)) {
    const response = await api(`/open311/v2/services/${encodeURIComponent(code)}.json?locale=${PAGE.lang}`);
    state.definitions[code] = response.ok ? await response.json() : { attributes: [] };
  }
  return state.definitions[code];
}

function fact(list, term, ...value) {
  if (value.every((v) => v === null || v === undefined || v === "")) return;
  list.append(el("dt", {}, term), el("dd", {}, ...value));
}

async function showReport(id) {
  state.current = id;
  for (const row of document.querySelectorAll("#report-queue tr.report")) {
    row.classList.toggle("selected", row.dataset.id === String(id));
  }
  const panel = $("#report-details");
  $("#details-error").hidden = true;
  $("#report-contact").hidden = true;
  $("#show-contact").hidden = false;
  await loadDetails(id);
  panel.hidden = false;
  panel.focus({ preventScroll: true });
  if (panel.getBoundingClientRect().top > window.innerHeight) panel.scrollIntoView();
}

async function loadDetails(id) {
  const response = await api(`/api/citizen/reports/${id}`);
  if (!response.ok) {
    showError(await problemText(response));
    return;
  }
  const report = await response.json();
  if (state.current !== id) return;
  const panel = $("#report-details");
  panel.dataset.id = String(report.id);
  panel.dataset.state = report.state;
  const name = state.names[report.service_code] || report.service_code;
  $("#details-title").textContent = `#${report.id} · ${name}`;
  $("#details-meta").textContent = [STATE_NAMES[report.state] || report.state, report.department,
    `${t("Requested")} ${when(report.requested_at)}`, report.assignee && `${t("Assignee")}: ${report.assignee}`]
    .filter(Boolean).join(" · ");

  const facts = $("#details-facts");
  facts.replaceChildren();
  fact(facts, t("Description"), report.description || "");
  if (report.public_description !== report.description) fact(facts, t("Public text"), report.public_description || "—");
  if (report.hidden_reason) fact(facts, t("Hidden from the public"), report.hidden_reason);
  const names = await definition(report.service_code);
  for (const [code, values] of Object.entries(report.attributes || {})) {
    const attribute = (names.attributes || []).find((a) => a.code === code);
    const label = attribute ? attribute.description : code;
    const shown = (Array.isArray(values) ? values : [values])
      .map((v) => (attribute && attribute.values || []).find((o) => o.key === v)?.name || v).join(", ");
    fact(facts, label, shown);
  }
  fact(facts, t("Address"), report.address || "");
  if (report.lat !== null && report.long !== null) {
    fact(facts, t("Location"), `${number(report.lat, 5)}, ${number(report.long, 5)}`);
  }
  fact(facts, t("Ward"), report.ward || "");
  const overdue = isOverdue(report);
  fact(facts, t("Deadline"), el("span", { className: overdue ? "overdue" : "" }, when(report.due_at), overdue ? ` (${t("overdue")})` : ""));
  fact(facts, t("Result"), report.result || "");
  if (report.rating !== null && report.rating !== undefined) {
    fact(facts, t("Citizen's rating"), `${report.rating}/5${report.rating_comment ? ` · ${report.rating_comment}` : ""}`);
  }
  if (report.merged_into) fact(facts, t("Merged into"), `#${report.merged_into}`);
  if (report.linked_entity) {
    fact(facts, t("Linked device"), el("a", { href: `/ioc/entities/${encodeURIComponent(report.linked_entity)}` }, report.linked_entity));
  }
  fact(facts, t("Reporter"), report.reported_by_citizen ? t("Reported by a signed-in citizen") : t("Reported anonymously"));

  $("#report-photos").replaceChildren(...(report.photos || []).map((photo) => {
    const label = photo.kind === "result" ? t("Result photo") : t("Photo from the citizen");
    return el("li", {}, el("a", { href: photo.url, target: "_blank", rel: "noopener" },
      el("img", { src: photo.url, alt: `${label} (${photo.id})`, loading: "lazy" })), el("span", {}, label));
  }));
  $("#report-history").replaceChildren(...(report.history || []).map((entry) => el("li", { className: entry.public ? "public" : "internal" },
    `${when(entry.at)} · ${entry.actor} · ${KIND_NAMES[entry.kind] || entry.kind}`,
    entry.note ? `: ${entry.note}` : "",
    entry.public ? "" : el("span", { className: "tag" }, ` ${t("internal")}`))));

  const open = OPEN_STATES.includes(report.state);
  for (const id of ["assign-form", "start-work", "request-info-form", "report-close-form", "merge-form"]) {
    $(`#${id}`).hidden = !open;
  }
  $("#start-work").hidden = !open || report.state === "in_progress";
  $("#moderate-text").value = report.public_description || "";
  $("#moderate-text").defaultValue = report.public_description || "";
}

function showError(text) {
  const error = $("#details-error");
  error.textContent = text;
  error.hidden = false;
}

async function act(action, init, form) {
  const id = state.current;
  const response = await api(`/api/citizen/reports/${id}/${action}`, { method: "POST", ...init });
  if (!response.ok) {
    showError(await problemText(response));
    return;
  }
  $("#details-error").hidden = true;
  form?.reset();
  await Promise.all([loadDetails(id), loadQueue(), loadIndicators()]);
}

function json(body) {
  return { headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}

function onSubmit(id, handler) {
  $(`#${id}`).addEventListener("submit", (event) => {
    event.preventDefault();
    handler(event.target);
  });
}

onSubmit("assign-form", (form) => act("assign", json({ user: $("#assign-user").value.trim() }), form));
$("#start-work").addEventListener("click", () => act("start", {}));
onSubmit("request-info-form", (form) => act("request-info", json({ text: $("#request-info-text").value }), form));
onSubmit("note-form", (form) => act("notes", json({ text: $("#note-text").value, public: $("#note-public").checked }), form));
onSubmit("report-close-form", (form) => {
  // Multipart: the result and, if chosen, the photo of the work done.
  const body = new FormData();
  body.append("result", $("#close-result").value);
  const photo = $("#close-photo").files[0];
  if (photo) body.append("photo", photo, photo.name);
  return act("close", { body }, form);
});
onSubmit("merge-form", (form) => act("merge", json({ into: Number($("#merge-into").value) }), form));
onSubmit("moderate-form", (form) => act("moderate", json({
  public_description: $("#moderate-text").value, reason: $("#moderate-reason").value,
}), form));

$("#show-contact").addEventListener("click", async () => {
  // Personal data, read only when asked (the platform records who looked, and when).
  const response = await api(`/api/citizen/reports/${state.current}/contact`);
  if (!response.ok) {
    showError(await problemText(response));
    return;
  }
  const { reporter_id: reporter, contact } = await response.json();
  const list = $("#report-contact");
  list.replaceChildren();
  if (reporter !== null) fact(list, t("Account"), `#${reporter}`);
  const names = { first_name: t("First name"), last_name: t("Last name"), email: t("E-mail"), phone: t("Phone") };
  for (const [key, value] of Object.entries(contact || {})) fact(list, names[key] || key, value);
  if (!list.children.length) fact(list, t("Contact"), t("No contact details were given."));
  list.hidden = false;
  $("#show-contact").hidden = true;
});

$("#report-state").addEventListener("change", loadQueue);
exportButtons($("#reports-export"), queueTable);

async function start() {
  await loadNames();
  await Promise.all([loadQueue(), loadIndicators()]);
  const wanted = Number(new URLSearchParams(location.search).get("id"));
  if (wanted) showReport(wanted);
  setInterval(loadQueue, 15000);
  setInterval(loadIndicators, 60000);
}

start();
