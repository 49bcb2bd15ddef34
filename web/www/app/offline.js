// The offline copy: sw.js keeps the page and its engine; the models used are in the
// model cache (model-cache.js) already. Both can be forgotten.
import { $ } from './dom.js';
import { CACHE_NAME } from './model-cache.js';

export async function keepOffline() {
  const status = $('offline-status');
  if (!('serviceWorker' in navigator)) {
    status.textContent = 'This browser cannot keep an offline copy.';
    return;
  }
  try {
    await navigator.serviceWorker.register('./sw.js');
    await navigator.serviceWorker.ready;
    status.textContent = 'The offline copy is ready.';
    document.documentElement.dataset.offline = 'ready';
  } catch (e) {
    status.textContent = `No offline copy (${e.message}).`;
  }
}

export async function forgetOffline() {
  for (const reg of await navigator.serviceWorker?.getRegistrations?.() ?? []) await reg.unregister();
  for (const name of await caches.keys()) {
    if (name.startsWith('mer-page-') || name === CACHE_NAME) await caches.delete(name);
  }
  delete document.documentElement.dataset.offline;
  $('offline-status').textContent = 'The offline copy and the kept models were removed; the next visit downloads them again.';
}
