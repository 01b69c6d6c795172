// Shared by every page: the page's configuration and messages, the language switch, and
// fetch with the session cookie (writes echo the CSRF token, as the accounts API requires).
"use strict";

const PAGE = JSON.parse(document.getElementById("page-config").textContent);

function t(message) {
  return PAGE.messages[message] || message;
}

// An element with properties (aria-*, for, role as attributes; dataset merged) and children.
function el(tag, properties = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(properties)) {
    if (key === "dataset") Object.assign(element.dataset, value);
    else if (key.startsWith("aria-") || key === "for" || key === "role") element.setAttribute(key, value);
    else element[key] = value;
  }
  element.append(...children.filter((c) => c !== null && c !== undefined));
  return element;
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|; )smartcity_csrf=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function api(path, options = {}, { signInOn401 = true } = {}) {
  // signInOn401: false leaves a 401 to the caller (the citizen app works signed out, and a
  // half-filled form must not be lost when a session ends).
  const init = { credentials: "same-origin", ...options };
  const method = (init.method || "GET").toUpperCase();
  if (method !== "GET") {
    init.headers = { ...(init.headers || {}), "X-CSRF-Token": csrfToken() };
  }
  const response = await fetch(path, init);
  if (response.status === 401 && signInOn401 && !location.pathname.startsWith("/login")) {
    location.href = "/login?next=" + encodeURIComponent(location.pathname);
    return new Promise(() => {}); // the page is going away: nothing more to do here
  }
  return response;
}

document.getElementById("lang-switch").addEventListener("click", (event) => {
  // Remember the choice for every page (a year), then reload in the other language.
  event.preventDefault();
  const lang = event.currentTarget.dataset.lang;
  document.cookie = `lang=${lang}; path=/; max-age=31536000; samesite=strict`;
  const url = new URL(location.href);
  url.searchParams.delete("lang");
  // The same address with a #fragment (the citizen app's screens) would not reload.
  if (url.href === location.href) location.reload();
  else location.href = url.toString();
});

async function exportTable(format, title, columns, rows) {
  // The server turns what the page shows into a CSV or XLSX file; the browser saves it.
  const response = await api(`/api/export/${format}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ title, columns, rows }),
  });
  if (!response.ok) return;
  const disposition = response.headers.get("content-disposition") || "";
  const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || `export.${format}`;
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
}

function exportButtons(container, table) {
  // "CSV" and "XLSX" buttons for a table produced on demand by table() → {title, columns, rows}.
  for (const format of ["csv", "xlsx"]) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = `export export-${format}`;
    button.textContent = format.toUpperCase();
    button.title = t("Download");
    button.addEventListener("click", () => {
      const { title, columns, rows } = table();
      exportTable(format, title, columns, rows);
    });
    container.append(button);
  }
}
