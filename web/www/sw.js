// The page's offline copy (registered by app.js): after one visit, the page, its engine
// (worker, wasm) and the list of models load without the server. Every same-origin GET
// goes to the network first, so a reachable server always gives the current page, and the
// answer is kept; when the network fails, the kept copy answers. Model files are not kept
// here: the page keeps every model it has used in its own cache (app.js, CACHE_NAME).
// What is kept, and how to clear it: the page's "How it works" section ("Offline").
const CACHE = 'mer-page-v1';
// The engine and helpers the page loads by fixed names (trunk hashes only app and style,
// which are read from index.html below).
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

async function precache() {
  const cache = await caches.open(CACHE);
  const page = await fetch('./', { cache: 'no-cache' });
  if (!page.ok) throw new Error(`the page answered HTTP ${page.status}`);
  const html = await page.clone().text();
  await cache.put('./', page);
  const rest = [...new Set([...FIXED.slice(1).map((f) => new URL(f, self.registration.scope).href), ...linked(html)])];
  await Promise.all(rest.map(async (url) => {
    const res = await fetch(url, { cache: 'no-cache' });
    // no models list is fine (a page without models); anything else must be there
    if (res.ok) await cache.put(url, res);
    else if (!url.endsWith('/models/index.json')) throw new Error(`${url}: HTTP ${res.status}`);
  }));
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
