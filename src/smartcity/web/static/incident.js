// An incident: its SOP checklist (each step done or skipped with a note, overdue ones
// marked), its timeline and comments, and closing with a report.
"use strict";

const INCIDENT_ID = document.querySelector(".incident").dataset.incidentId;
const base = `/api/incidents/${INCIDENT_ID}`;
async function post(path, body) {
  // Refusals (a step still pending, a missing summary) are shown as the API words them.
  const response = await api(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const error = document.getElementById("incident-error");
  error.hidden = response.ok;
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    error.textContent = problem.detail || problem.title || `HTTP ${response.status}`;
  }
  return response;
}

async function load() {
  const response = await api(base);
  if (!response.ok) {
    document.getElementById("incident-title").textContent += ` (${response.status})`;
    return;
  }
  const incident = await response.json();
  document.getElementById("incident-title").textContent = incident.title;
  document.getElementById("incident-meta").textContent =
    `${incident.type_code} · ${t(incident.severity)} · ${t(incident.status)}`;
  renderSteps(incident);
  renderTimeline(incident.timeline || []);
  const closed = incident.status === "closed";
  document.getElementById("close-form").hidden = closed;
  document.getElementById("closed-note").hidden = !closed;
  document.getElementById("report-link").href = `${base}/report`;
  document.body.dataset.incidentStatus = incident.status;
}

function renderSteps(incident) {
  const list = document.getElementById("steps");
  list.replaceChildren();
  for (const step of incident.steps) {
    const item = document.createElement("li");
    item.className = `step status-${step.status}${step.overdue ? " overdue" : ""}`;
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = `step-${step.position}`;
    box.checked = step.status === "done";
    box.disabled = incident.status === "closed" || step.status !== "pending";
    box.addEventListener("change", async () => {
      await post(`${base}/steps/${step.position}`, { status: "done" });
      await load();
    });
    const label = document.createElement("label");
    label.htmlFor = box.id;
    label.textContent = PAGE.lang === "en" ? step.title_en : step.title_vi;
    const meta = document.createElement("small");
    const due = step.due_at ? new Date(step.due_at / 1000).toLocaleString(PAGE.lang) : "";
    meta.textContent = [step.department, due && `${t("due")} ${due}`, step.overdue && t("overdue"),
      step.done_by && `${t(step.status)} · ${step.done_by}`, step.note].filter(Boolean).join(" · ");
    item.append(box, " ", label, document.createElement("br"), meta);
    if (step.status === "pending" && incident.status !== "closed") item.append(skipForm(step));
    list.append(item);
  }
}

function skipForm(step) {
  const form = document.createElement("form");
  form.className = "small-form skip";
  const note = document.createElement("input");
  note.required = true;
  note.placeholder = t("Why skip this step?");
  note.setAttribute("aria-label", t("Why skip this step?"));
  const send = document.createElement("button");
  send.type = "submit";
  send.textContent = t("Skip");
  form.append(note, send);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await post(`${base}/steps/${step.position}`, { status: "skipped", note: note.value });
    await load();
  });
  return form;
}

function renderTimeline(entries) {
  const list = document.getElementById("incident-timeline");
  list.replaceChildren();
  for (const entry of entries) {
    const li = document.createElement("li");
    const when = typeof entry.at === "number" ? new Date(entry.at / 1000) : new Date(entry.at);
    const text = entry.detail && (entry.detail.text || entry.detail.note || entry.detail.summary);
    li.textContent = `${when.toLocaleString(PAGE.lang)} · ${entry.actor} · ${t(entry.kind)}${text ? ": " + text : ""}`;
    list.append(li);
  }
}

document.getElementById("incident-comment").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = event.target.elements.text;
  await post(`${base}/comments`, { text: input.value });
  input.value = "";
  await load();
});

document.getElementById("close-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target.elements;
  await post(`${base}/close`, {
    summary: form.summary.value, cause: form.cause.value || null, actions: form.actions.value || null,
  });
  await load();
});

load();
setInterval(load, 10000);
