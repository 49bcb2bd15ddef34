// The page's offline copy (registered by app/offline.js): after one visit, the page, its
// modules, its engine (worker, wasm) and the list of models load without the server. Every same-origin GET
// goes to the network first, so a reachable server always gives the current page, and the
// answer is kept; when the network fails, the kept copy answers. Model files are not kept
// here: the page keeps every model it has used in its own cache (app/model-cache.js).
// What is kept, and how to clear it: the page's "How it works" section ("Offline").
const CACHE = 'mer-page-v1';
// The engine and helpers the page loads by fixed names (trunk hashes only app and style,
// which are read from index.html below; the modules they import are found by precache).
const FIXED = ['./', 'worker.js', 'mer-web.js', 'mer-web_bg.wasm', 'mic-worklet.js', 'models/index.json'];

// index.html's own scripts and styles (same origin only).
function linked(html) {
  const out = [];
  for (const m of html.matchAll(/<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"/g)) {
    const url = new URL(m[1], self.registration.scope);
    if (url.origin === self.location.origin && !url.pathname.endsWith('/Cargo.toml')) out.push(url.href);
  }
  return out;
}

// The relative modules a script imports statically (`import … from './x.js'`,
// `export … from './x.js'`, `import './x.js'`).
function imported(js, base) {
  const out = [];
  const from = /^\s*(?:import|export)\s[^;'"]*?\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]|^\s*import\s*['"](\.{1,2}\/[^'"]+)['"]/gm;
  for (const m of js.matchAll(from)) out.push(new URL(m[1] || m[2], base).href);
  return out;
}

// Keeps `url` (and, for a script, every module it imports, once each).
async function keep(cache, url, seen) {
  if (seen.has(url)) return;
  seen.add(url);
  const res = await fetch(url, { cache: 'no-cache' });
  if (!res.ok) {
    // no models list is fine (a page without models); anything else must be there
    if (url.endsWith('/models/index.json')) return;
    throw new Error(`${url}: HTTP ${res.status}`);
  }
  const js = url.endsWith('.js') ? await res.clone().text() : '';
  await cache.put(url, res);
  await Promise.all(imported(js, url).map((next) => keep(cache, next, seen)));
}

async function precache() {
  const cache = await caches.open(CACHE);
  const page = await fetch('./', { cache: 'no-cache' });
  if (!page.ok) throw new Error(`the page answered HTTP ${page.status}`);
  const html = await page.clone().text();
  await cache.put('./', page);
  const rest = [...FIXED.slice(1).map((f) => new URL(f, self.registration.scope).href), ...linked(html)];
  const seen = new Set();
  await Promise.all(rest.map((url) => keep(cache, url, seen)));
}

self.addEventListener('install', (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('mer-page-') && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) return;
  // model files: the page's own cache keeps them
  if (url.pathname.endsWith('.mer')) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const key = req.mode === 'navigate' ? './' : req;
    try {
      const res = await fetch(req);
      if (res.ok) await cache.put(key, res.clone());
      return res;
    } catch (e) {
      const kept = await cache.match(key, { ignoreSearch: req.mode === 'navigate' });
      if (kept) return kept;
      throw e;
    }
  })());
});
