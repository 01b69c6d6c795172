// Sign-in: POST the form to /auth/session (sets the session cookie), then go where asked.
"use strict";

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.hidden = true;
  const response = await fetch("/auth/session", {
    method: "POST",
    body: new URLSearchParams(new FormData(event.target)),
    credentials: "same-origin",
  });
  if (response.ok) {
    const next = new URLSearchParams(location.search).get("next") || "/ioc";
    location.href = next.startsWith("/") && !next.startsWith("//") ? next : "/ioc";
    return;
  }
  error.textContent = t(response.status === 429
    ? "Too many attempts; wait a minute."
    : "Sign-in failed: check the user name and password.");
  error.hidden = false;
});
