// Model files: kept in the browser's Cache API (CACHE_NAME) after their first download,
// and loaded into every worker that classifies.
import { setProgress } from './dom.js';
import { workers } from './engine.js';
import { mb } from './format.js';
import { Refused } from './state.js';

export const CACHE_NAME = 'mer-models-v1';

async function openCache() {
  try {
    return 'caches' in self ? await caches.open(CACHE_NAME) : null;
  } catch {
    return null; // e.g. storage disabled: download every time
  }
}

function modelUrl(entry) {
  const url = new URL(`models/${encodeURIComponent(entry.file)}`, location.href);
  url.searchParams.set('v', entry.version);
  return url;
}

// A response's body, with the fraction received so far reported to onProgress.
async function readBody(res, total, onProgress) {
  const reader = res.body.getReader();
  const chunks = [];
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    got += value.length;
    if (total) onProgress(got / total);
  }
  const bytes = new Uint8Array(got);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return bytes;
}

// Keeps `bytes` as the one cached version of the model at `url`.
async function keep(cache, url, bytes) {
  try {
    for (const key of await cache.keys()) {
      if (new URL(key.url).pathname === url.pathname) await cache.delete(key);
    }
    await cache.put(url, new Response(bytes, { headers: { 'content-type': 'application/octet-stream' } }));
  } catch {
    // a full or unavailable cache only costs a download next time
  }
}

// The model's bytes: from the Cache API, else downloaded from this site (and cached).
async function modelBytes(entry, onProgress) {
  const url = modelUrl(entry);
  const cache = await openCache();
  if (cache) {
    const hit = await cache.match(url);
    if (hit) return { bytes: await hit.arrayBuffer(), cached: true };
  }
  let res;
  try {
    res = await fetch(url, { cache: 'no-store' });
  } catch (e) {
    throw new Refused(`The model file ${entry.file} could not be downloaded (${e.message}).`);
  }
  if (!res.ok) throw new Refused(`The model file ${entry.file} could not be downloaded (HTTP ${res.status}).`);
  const bytes = await readBody(res, Number(res.headers.get('content-length')) || entry.size || 0, onProgress);
  if (cache) await keep(cache, url, bytes);
  return { bytes: bytes.buffer, cached: false };
}

async function forgetModel(entry) {
  const cache = await openCache();
  if (cache) await cache.delete(modelUrl(entry));
}

// The id a model goes by in the workers: its file and the version of its index entry.
export const modelIdOf = (entry) => `${entry.file}#${entry.version}`;

// Loads the model file's bytes into `need` (each worker its own copy, the last the
// original, moved).
function loadInto(need, modelId, bytes) {
  return Promise.all(need.map((w, i) => {
    const mine = i === need.length - 1 ? bytes : bytes.slice(0);
    return w.call('loadModel', { modelId, bytes: mine }, [mine]);
  }));
}

// Makes `entry` the current model of every worker (downloading and checking it if needed).
// Returns the milliseconds it took (0: every worker had it).
export async function ensureModel(entry, label) {
  const modelId = modelIdOf(entry);
  const all = workers();
  const have = await Promise.all(all.map((w) => w.call('modelId')));
  const need = all.filter((_, i) => have[i] !== modelId);
  if (need.length === 0) return 0;
  const name = entry.title || entry.file;
  setProgress(`${label}: fetching ${name} (${mb(entry.size)})…`, 0);
  const t0 = performance.now();
  const { bytes, cached } = await modelBytes(entry, (f) =>
    setProgress(`${label}: downloading ${name} (${mb(entry.size)})…`, f),
  );
  setProgress(`${label}: checking and loading ${name}…`, null);
  try {
    await loadInto(need, modelId, bytes);
  } catch (e) {
    if (e.fatal) throw e;
    await forgetModel(entry);
    throw new Refused(
      `The model file ${entry.file} cannot be used: ${e.message}. ${cached ? 'It came from the browser’s cache and was removed from it; try again to download it afresh.' : 'The copy on this site is damaged or was made for another version of the page.'}`,
    );
  }
  return performance.now() - t0;
}
