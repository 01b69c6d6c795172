// Shared by every page: the page's configuration and messages, the language switch, and
// fetch with the session cookie (writes echo the CSRF token, as the accounts API requires).
"use strict";

const PAGE = JSON.parse(document.getElementById("page-config").textContent);

function t(message) {
  return PAGE.messages[message] || message;
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|; )smartcity_csrf=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", ...options };
  const method = (init.method || "GET").toUpperCase();
  if (method !== "GET") {
    init.headers = { ...(init.headers || {}), "X-CSRF-Token": csrfToken() };
  }
  const response = await fetch(path, init);
  if (response.status === 401 && !location.pathname.startsWith("/login")) {
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
  location.href = url.toString();
});
