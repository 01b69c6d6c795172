// The incident list: open (default), closed or all, newest first, each linking to its page
// with the SOP checklist; exportable like every table.
"use strict";

async function loadIncidents() {
  const status = document.getElementById("incident-status").value;
  const query = new URLSearchParams({ limit: "500" });
  if (status) query.set("status", status);
  const response = await api(`/api/incidents?${query}`);
  const incidents = response.ok ? await response.json() : [];
  const body = document.querySelector("#incident-list tbody");
  body.replaceChildren();
  for (const incident of incidents) {
    const row = body.insertRow();
    row.className = `incident status-${incident.status}`;
    row.insertCell().textContent = String(incident.id);
    const link = document.createElement("a");
    link.href = `/ioc/incidents/${incident.id}`;
    link.textContent = incident.title;
    row.insertCell().append(link);
    const opened = new Date(incident.opened_at / 1000).toLocaleString(PAGE.lang);
    for (const value of [t(incident.severity), incident.department || "—", opened, t(incident.status)]) {
      row.insertCell().textContent = value;
    }
  }
  document.getElementById("incident-empty").hidden = incidents.length > 0;
  document.body.dataset.incidentsReady = String(incidents.length);
}

function incidentsTable() {
  const rows = [...document.querySelectorAll("#incident-list tbody tr")].map((r) => [...r.cells].map((c) => c.textContent));
  return { title: t("Incidents"), columns: ["#", t("Incident"), t("Severity"), t("Department"), t("Opened"), t("Status")], rows };
}

document.getElementById("incident-status").addEventListener("change", loadIncidents);
exportButtons(document.getElementById("incidents-export"), incidentsTable);
loadIncidents();
setInterval(loadIncidents, 15000);
