// The service worker of Can Tho Smart, served as /app/sw.js with Service-Worker-Allowed: /app
// so that it controls the app at /app.
//
// * The app shell (the /app page, its script, style, common.js, icon and manifest) is cached
//   when the worker installs, so the app starts without a network.
// * Everything is network-first: online, the platform's current files and data are used (and
//   the shell's copies refreshed); offline, the cached shell and public catalogue answer.
// * Personal data is never cached: /api/ (one's reports, notifications, the department's
//   work), /auth/ and anything that is not a GET go straight to the network, untouched.
//   Only public Open311 reads (the catalogue, public reports) and static files are kept.
"use strict";

const CACHE = "can-tho-smart-v1";
const SHELL = [
  "/app",
  "/static/app.js",
  "/static/app.css",
  "/static/common.js",
  "/static/app-icon.svg",
  "/app/manifest.webmanifest",
];
// Kept when they can be fetched (the map needs them; the form works without them).
const EXTRAS = [
  "/static/vendor/maplibre-gl/maplibre-gl.mjs",
  "/static/vendor/maplibre-gl/maplibre-gl.css",
];

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL);
    await Promise.all(EXTRAS.map((path) => cache.add(path).catch(() => undefined)));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

function cacheable(url) {
  // Public, non-personal answers only.
  if (url.pathname === "/app" || url.pathname === "/app/manifest.webmanifest") return true;
  if (url.pathname.startsWith("/static/")) return true;
  return url.pathname.startsWith("/open311/v2/services") || url.pathname === "/open311/v2/requests.json";
}

async function networkFirst(request, url) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && response.type === "basic") await cache.put(request, response.clone());
    return response;
  } catch (error) {
    // Offline: the cached copy; the app page whatever its ?lang= was.
    const cached = await cache.match(request, { ignoreSearch: url.pathname === "/app" });
    if (cached) return cached;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || !cacheable(url)) return; // the browser fetches it
  event.respondWith(networkFirst(request, url));
});
