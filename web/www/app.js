// The page: file intake, decoding (Web Audio only exists on the main thread), the model
// list and cache, and drawing. Everything heavy runs in web/www/worker.js.
//
// Test hooks: once a song-level result is shown, #result carries data-quadrant (Q1..Q4),
// data-backend (webgpu | cpu), data-probabilities (JSON [Q1..Q4]), data-arousal,
// data-valence, data-model and data-ms (drop to result, milliseconds). #message carries
// data-kind="error" while an error is shown.

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const params = new URLSearchParams(location.search);

// Limits, mirrored from web/src/pipeline.rs (the worker checks them again).
const MAX_SECONDS = 30 * 60;
const MAX_BYTES = 1024 * 1024 * 1024;
const RATE = 16000;
const CACHE_NAME = 'mer-models-v1';

const QUADS = [
  { name: 'Q1', words: 'happy / excited', color: '#f0a030', sign: 'arousal +, valence +' },
  { name: 'Q2', words: 'tense / angry', color: '#e0533d', sign: 'arousal +, valence −' },
  { name: 'Q3', words: 'sad / depressed', color: '#4a72c4', sign: 'arousal −, valence −' },
  { name: 'Q4', words: 'calm / tender', color: '#3aa876', sign: 'arousal −, valence +' },
];
const quad = (name) => QUADS.find((q) => q.name === name) || QUADS[0];

// ---------------------------------------------------------------- the worker
class Engine {
  constructor(backend) {
    this.backend = backend;
    this.next = 1;
    this.start();
  }

  start() {
    this.pending = new Map();
    this.worker = new Worker('./worker.js', { type: 'module' });
    this.worker.onmessage = (e) => this.onMessage(e.data);
    this.worker.onerror = (e) => {
      e.preventDefault();
      this.failAll(`the analysis worker stopped (${e.message || 'unknown error'})`);
    };
    this.info = this.call('init', { backend: this.backend });
    this.info.catch(() => {});
  }

  failAll(message) {
    for (const p of this.pending.values()) p.reject(Object.assign(new Error(message), { fatal: true }));
    this.pending.clear();
  }

  onMessage(msg) {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.value);
    else p.reject(Object.assign(new Error(msg.error), { fatal: !!msg.fatal }));
  }

  call(op, args = {}, transfer = []) {
    const id = this.next++;
    const promise = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
    });
    this.worker.postMessage({ id, op, ...args }, transfer);
    return promise;
  }

  // A new worker (after a crash, or to give memory back).
  restart() {
    this.worker.terminate();
    this.failAll('the analysis worker was restarted');
    this.start();
  }

  stop() {
    this.worker.terminate();
    this.failAll('the analysis worker was stopped');
  }
}

// How many workers share the CPU path's patches: one per core, up to 4 (?workers=N sets it).
function cpuWorkers() {
  const asked = Number(params.get('workers'));
  if (Number.isInteger(asked) && asked >= 1 && asked <= 16) return asked;
  return Math.max(1, Math.min(navigator.hardwareConcurrency || 2, 4));
}

// The primary worker decodes nothing but computes the spectrogram and, on WebGPU, runs every
// patch; on the CPU, helper workers (same engine, CPU backend) take a share of the patches.
async function startHelpers() {
  for (const h of state.helpers) h.stop();
  state.helpers = [];
  const info = await state.engine.info;
  if (info.backend !== 'cpu') return;
  const helpers = Array.from({ length: cpuWorkers() - 1 }, () => new Engine('cpu'));
  const ok = await Promise.all(helpers.map((h) => h.info.then(() => true, () => false)));
  state.helpers = helpers.filter((h, i) => {
    if (!ok[i]) h.stop();
    return ok[i];
  });
}

function workers() {
  return [state.engine, ...state.helpers];
}

// Replaces a failed WebGPU engine with CPU workers for the rest of the visit.
async function fallBackToCpu(reason) {
  state.runToken++;
  state.engine.stop();
  state.engine = new Engine('cpu');
  // the first line of the engine's error (the rest is its cause chain)
  const why = String(reason || 'unknown error').split('\n')[0];
  state.gpuFailure = `WebGPU failed during the analysis (${why}); the page uses the CPU now.`;
  state.songInWorker = false;
  await showBackend();
}

async function restartEngines() {
  state.engine.restart();
  state.songInWorker = false;
  await showBackend();
}

// ---------------------------------------------------------------- state
const state = {
  engine: null,
  models: [], // entries of models/index.json with .usable / .why / .version
  generation: 0, // bumps on every new file; stale work stops at its next await
  helpers: [], // extra CPU workers
  running: null, // the classification in flight
  gpuFailure: null, // why WebGPU was given up during this visit, if it was
  runToken: 0, // bumps to stop the classification in flight
  song: null, // { name, file, seconds, patches, url, decodeMs, featuresMs }
  results: new Map(), // model file -> { prediction, ms, backend }
  songInWorker: false,
  mic: null, // live listening: { stream, context, samples, timer, history, ... } while on
  batch: 0, // bumps when a new set of files replaces the one being analysed
  library: [], // the songs analysed this visit, in order: the rows of #songs
  sort: { key: null, dir: 1 }, // the table's order (null: order of analysis)
};

// ---------------------------------------------------------------- small UI helpers
function showMessage(text, kind = 'error') {
  const m = $('message');
  m.textContent = text;
  m.dataset.kind = kind;
  m.dataset.run = String(state.generation);
  m.hidden = false;
}

function clearMessage() {
  const m = $('message');
  m.hidden = true;
  m.textContent = '';
  delete m.dataset.kind;
}

function setProgress(text, fraction = null) {
  $('progress').hidden = false;
  $('progress-text').textContent = text;
  const bar = $('progress-bar');
  if (fraction === null) {
    bar.classList.add('indeterminate');
    bar.style.width = '30%';
    $('progress-pct').textContent = '';
  } else {
    bar.classList.remove('indeterminate');
    const pct = Math.max(0, Math.min(1, fraction)) * 100;
    bar.style.width = `${pct}%`;
    $('progress-pct').textContent = `${Math.round(pct)} %`;
  }
}

function hideProgress() {
  $('progress').hidden = true;
}

function el(tag, attrs = {}, text = null) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  if (text !== null) e.textContent = text;
  return e;
}

function svg(tag, attrs = {}, text = null) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== null) e.textContent = text;
  return e;
}

const pct = (p) => `${(p * 100).toFixed(1)} %`;
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

function clock(s) {
  if (!Number.isFinite(s)) return '0:00';
  const m = Math.floor(s / 60);
  const sec = Math.floor(s % 60);
  return `${m}:${String(sec).padStart(2, '0')}`;
}

function durationWords(s) {
  if (s < 60) return `${s.toFixed(1)} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h ${String(m).padStart(2, '0')} min` : `${m} min ${String(Math.round(s % 60)).padStart(2, '0')} s`;
}

class Refused extends Error {}

// ---------------------------------------------------------------- models
function hash(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16);
}

const LANG = { eng: 'English', man: 'Mandarin', mix: 'English + Mandarin', none: 'no speech' };

function variantOf(entry) {
  const v = (entry.meta && entry.meta.variant) || {};
  const langs = v.pretrain_languages || [];
  const lang = langs.length === 0 ? 'none' : langs.length === 1 ? langs[0] : 'mix';
  const method = { scae: 'SCAE', cpc: 'CPC', none: 'no pretraining' }[v.method] || v.method || '?';
  const mode = { 'feat-ext': 'Feat. Ext.', full: 'Full' }[v.mode] || v.mode || '?';
  return { method, methodKey: v.method || 'none', lang, mode, modeKey: v.mode || 'feat-ext' };
}

// The test scores `trainer` writes: metrics.test.{patch,song}.{quadrant,arousal,valence}.
function testScores(entry) {
  const t = entry.meta && entry.meta.metrics && entry.meta.metrics.test;
  if (!t || !t.patch) return null;
  const f1 = (level) => ['quadrant', 'arousal', 'valence'].map((k) => (level && level[k] ? level[k].f1_weighted : NaN));
  return { patch: f1(t.patch), song: f1(t.song), songs: t.songs };
}

const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2).replace(/^0/, '') : '–');

function metricWords(entry) {
  const meta = entry.meta || {};
  if (meta.training && meta.training.untrained) return 'untrained (random weights): for testing the page only';
  const sc = testScores(entry);
  if (sc) {
    const [q, a, v] = sc.patch;
    const songs = sc.songs ? ` on ${sc.songs} test songs` : '';
    return `test F1${songs}: quadrant ${f2(q)}, arousal ${f2(a)}, valence ${f2(v)} (patches, weighted as in the paper); quadrant ${f2(sc.song[0])} per song`;
  }
  const m = meta.metrics;
  if (!m || typeof m !== 'object') return 'no test scores recorded';
  const parts = [];
  const walk = (obj, prefix) => {
    for (const [k, v] of Object.entries(obj)) {
      if (parts.length >= 6) return;
      if (typeof v === 'number') parts.push(`${prefix}${k.replace(/_/g, ' ')} ${v.toFixed(2)}`);
      else if (v && typeof v === 'object' && !prefix) walk(v, `${k} `);
    }
  };
  walk(m, '');
  return parts.length ? parts.join(' · ') : 'no test scores recorded';
}

async function loadModels() {
  const select = $('model');
  let text;
  try {
    const res = await fetch('models/index.json', { cache: 'no-cache' });
    if (res.status === 404) text = null;
    else if (!res.ok) throw new Error(`HTTP ${res.status}`);
    else text = await res.text();
  } catch (e) {
    select.replaceChildren(el('option', {}, 'model list unavailable'));
    showMessage(`The list of models could not be loaded (${e.message}).`);
    return;
  }
  let entries = [];
  let defaultFile = null;
  if (text !== null) {
    try {
      const index = JSON.parse(text);
      entries = index.models || [];
      defaultFile = typeof index.default === 'string' ? index.default : null;
      const verdicts = await state.engine.call('checkIndex', { json: text });
      entries.forEach((e, i) => {
        e.why = verdicts[i];
        e.usable = !verdicts[i];
        e.version = hash(`${e.size}:${JSON.stringify(e.meta)}`);
      });
    } catch (e) {
      select.replaceChildren(el('option', {}, 'model list unreadable'));
      showMessage(`The list of models (models/index.json) is unreadable: ${e.message}`);
      return;
    }
  }
  state.models = entries;
  if (entries.length === 0) {
    select.replaceChildren(el('option', {}, 'no models shipped yet'));
    $('model-info').textContent =
      'No trained models are shipped with this page yet. Train them with the trainer and list them with `trainer index models/`; they will appear here.';
    $('model-info').classList.add('warn');
    return;
  }
  select.replaceChildren();
  const groups = new Map();
  for (const [i, e] of entries.entries()) {
    const v = variantOf(e);
    const key = `${v.method} · ${v.mode}`;
    if (!groups.has(key)) groups.set(key, el('optgroup', { label: key }));
    const sc = testScores(e);
    const precision = e.meta && e.meta.precision ? ` ${e.meta.precision}` : '';
    const label = `${e.title || e.file} — ${mb(e.size)}${precision}${sc ? ` — test F1 ${f2(sc.patch[0])}` : ''}${e.usable ? '' : ' (unusable)'}`;
    const opt = el('option', { value: String(i) }, label);
    if (!e.usable) opt.disabled = true;
    groups.get(key).append(opt);
  }
  select.append(...groups.values());
  // ?model=FILE, else the index's default (the best on held-out real music), else the
  // model with the best test score, else the first usable one
  const wanted = entries.findIndex((e) => e.usable && e.file === params.get('model'));
  const named = entries.findIndex((e) => e.usable && e.file === defaultFile);
  let best = -1;
  entries.forEach((e, i) => {
    const f = testScores(e)?.patch[0];
    if (e.usable && Number.isFinite(f) && (best < 0 || f > testScores(entries[best]).patch[0])) best = i;
  });
  const pick = [wanted, named, best].find((i) => i >= 0) ?? entries.findIndex((e) => e.usable);
  if (pick >= 0) select.value = String(pick);
  select.disabled = false;
  $('compare').disabled = entries.filter((e) => e.usable).length < 1;
  $('listen').disabled = !entries.some((e) => e.usable);
  showModelInfo();
}

function currentModel() {
  const i = Number($('model').value);
  return Number.isInteger(i) ? state.models[i] : undefined;
}

function showModelInfo() {
  const e = currentModel();
  const info = $('model-info');
  info.classList.remove('warn');
  if (!e) {
    info.textContent = '';
    return;
  }
  const v = variantOf(e);
  const precision = (e.meta && e.meta.precision) || '?';
  const pretraining = v.methodKey === 'none' ? 'no speech pretraining' : `${v.method}, pretrained on ${LANG[v.lang] || v.lang} speech`;
  info.textContent = `${pretraining}, ${v.mode} transfer · ${mb(e.size)} (${precision}) · ${metricWords(e)}`;
  if (!e.usable) {
    info.textContent += ` · unusable: ${e.why}`;
    info.classList.add('warn');
  }
}

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
  const total = Number(res.headers.get('content-length')) || entry.size || 0;
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
  if (cache) {
    try {
      for (const key of await cache.keys()) {
        if (new URL(key.url).pathname === url.pathname) await cache.delete(key);
      }
      await cache.put(url, new Response(bytes, { headers: { 'content-type': 'application/octet-stream' } }));
    } catch {
      // a full or unavailable cache only costs a download next time
    }
  }
  return { bytes: bytes.buffer, cached: false };
}

async function forgetModel(entry) {
  const cache = await openCache();
  if (cache) await cache.delete(modelUrl(entry));
}

// The id a model goes by in the workers: its file and the version of its index entry.
const modelIdOf = (entry) => `${entry.file}#${entry.version}`;

// Makes `entry` the current model of every worker (downloading and checking it if needed).
async function ensureModel(entry, label) {
  const modelId = modelIdOf(entry);
  const all = workers();
  const have = await Promise.all(all.map((w) => w.call('model', { modelId })));
  const need = all.filter((_, i) => !have[i].cached);
  if (need.length === 0) return 0;
  setProgress(`${label}: fetching ${entry.title || entry.file} (${mb(entry.size)})…`, 0);
  const t0 = performance.now();
  const { bytes, cached } = await modelBytes(entry, (f) =>
    setProgress(`${label}: downloading ${entry.title || entry.file} (${mb(entry.size)})…`, f),
  );
  setProgress(`${label}: checking and loading ${entry.title || entry.file}…`, null);
  try {
    await Promise.all(need.map((w) => {
      const copy = bytes.slice(0);
      return w.call('model', { modelId, bytes: copy }, [copy]);
    }));
  } catch (e) {
    if (e.fatal) throw e;
    await forgetModel(entry);
    throw new Refused(
      `The model file ${entry.file} cannot be used: ${e.message}. ${cached ? 'It came from the browser’s cache and was removed from it; try again to download it afresh.' : 'The copy on this site is damaged or was made for another version of the page.'}`,
    );
  }
  return performance.now() - t0;
}

// ---------------------------------------------------------------- decoding
// The duration from the file's header via the audio element (cheap), so that hours-long
// files are refused before they are decoded into memory.
function probeDuration(audio, url) {
  return new Promise((resolve) => {
    const done = (d) => {
      audio.removeEventListener('loadedmetadata', ok);
      audio.removeEventListener('error', bad);
      clearTimeout(timer);
      resolve(d);
    };
    const ok = () => done(audio.duration);
    const bad = () => done(NaN);
    const timer = setTimeout(() => done(NaN), 4000);
    audio.addEventListener('loadedmetadata', ok);
    audio.addEventListener('error', bad);
    audio.src = url;
  });
}

async function decode(file) {
  const data = await file.arrayBuffer();
  // Decoding in a 16 kHz context makes the browser resample to the recipe's rate (a 16 kHz
  // file is left as it is); mono and normalisation happen in the worker, in Rust.
  const ctx = new OfflineAudioContext(1, 1, RATE);
  try {
    return await ctx.decodeAudioData(data);
  } catch {
    throw new Refused(
      `“${file.name}” could not be decoded as audio: it is not an audio file, or it is damaged, or this browser cannot read its format. Try MP3, AAC/M4A, OGG, Opus, FLAC or WAV.`,
    );
  }
}

// ---------------------------------------------------------------- the analysis
function resetResult(name) {
  const r = $('result');
  for (const k of ['quadrant', 'backend', 'probabilities', 'arousal', 'valence', 'model', 'ms', 'updates']) delete r.dataset[k];
  r.classList.remove('ready');
  $('song-name').textContent = name || 'No song yet';
  $('verdict-chip').textContent = '…';
  $('verdict-chip').style.background = '';
  $('verdict-words').textContent = name ? 'Listening…' : 'Drop a song to hear how it feels';
  $('verdict-sub').textContent = '';
  drawProbs(null);
  $('p-arousal').textContent = '–';
  $('p-valence').textContent = '–';
  $('run-info').textContent = '';
  drawPlane($('plane'), null);
  drawTimeline(null);
  for (const id of EXPORTS) $(id).disabled = true;
}

class Cancelled extends Error {}

async function cancelRunning() {
  state.runToken++;
  const running = state.running;
  if (running) await running.catch(() => {});
}

async function handleFile(file) {
  if (!file) return;
  if (state.mic) await stopListening();
  const t0 = performance.now();
  const gen = ++state.generation;
  const stale = () => gen !== state.generation;
  $('result').dataset.run = String(gen);
  // the previous song's result goes at once (its test hooks with it)
  clearMessage();
  resetResult(file.name);
  // a new map: the one of the previous song stays with its row of the songs table
  state.results = new Map();
  $('compare-section').hidden = true;
  await cancelRunning();
  if (stale()) return;
  if (state.song && state.song.seconds > 10 * 60) {
    // A long song grew the worker's memory (WebAssembly memory never shrinks): a fresh
    // worker gives it back. Models come back from the Cache API.
    await restartEngines();
  }
  if (state.song && state.song.url && !inLibrary(state.song)) URL.revokeObjectURL(state.song.url);
  state.song = null;
  state.songInWorker = false;
  let url = null;
  try {
    if (file.size === 0) throw new Refused(`“${file.name}” is empty.`);
    if (file.size > MAX_BYTES) {
      throw new Refused(`“${file.name}” is ${mb(file.size)}; the page analyses files of up to 1 GB (songs of up to 30 minutes).`);
    }
    url = URL.createObjectURL(file);
    const audio = $('audio');
    setProgress(`Reading ${file.name}…`, null);
    const probed = await probeDuration(audio, url);
    if (stale()) return;
    if (Number.isFinite(probed) && probed > MAX_SECONDS) {
      throw new Refused(
        `“${file.name}” is ${durationWords(probed)} long; the page analyses songs of up to 30 minutes (longer recordings would need gigabytes of memory in the browser). Cut the part you want with an audio editor and drop that.`,
      );
    }
    setProgress(`Decoding ${file.name}…`, null);
    const tDecode = performance.now();
    let buffer = await decode(file);
    if (stale()) return;
    if (buffer.duration > MAX_SECONDS) {
      throw new Refused(`“${file.name}” is ${durationWords(buffer.duration)} long; the page analyses songs of up to 30 minutes.`);
    }
    const channels = [];
    for (let c = 0; c < buffer.numberOfChannels; c++) channels.push(new Float32Array(buffer.getChannelData(c)));
    const sampleRate = buffer.sampleRate;
    buffer = null;
    const decodeMs = performance.now() - tDecode;
    setProgress('Computing log-mel patches…', null);
    const tFeatures = performance.now();
    const info = await state.engine.call('song', { channels, sampleRate }, channels.map((c) => c.buffer));
    if (stale()) return;
    if (state.helpers.length) {
      // the helpers classify from the same spectrogram
      const mel = await state.engine.call('mel');
      await Promise.all(state.helpers.map((h) => {
        const copy = mel.slice();
        return h.call('setMel', { data: copy, frames: info.frames, seconds: info.seconds }, [copy.buffer])
          .then(() => { h.song = gen; }, () => { h.song = 0; });
      }));
      if (stale()) return;
    }
    state.songInWorker = true;
    state.song = {
      name: file.name,
      file,
      url,
      seconds: info.seconds,
      patches: info.patches,
      decodeMs,
      featuresMs: performance.now() - tFeatures,
      t0,
    };
    // a song given while the page starts waits for the list of models
    await state.modelsLoaded;
    if (stale()) return;
    $('compare').disabled = !state.models.some((m) => m.usable);
    await analyseWith(currentModel(), gen, t0);
    return !stale() && Boolean(currentPrediction());
  } catch (e) {
    if (stale()) return;
    failed(e);
    return false;
  } finally {
    // a file that did not become the song (refused, or replaced by a newer one) lets go of
    // its object URL
    if (url && !(state.song && state.song.url === url)) URL.revokeObjectURL(url);
  }
}

// Several files (picked, dropped, or a dropped folder's audio files): analysed one after
// another, each finished song added to the songs table. A new pick or drop replaces the
// files still waiting. At the end, the files that could not be analysed are named.
const MAX_FILES = 500;

async function analyseFiles(files) {
  let list = [...files].filter(Boolean);
  if (!list.length) return;
  const batch = ++state.batch;
  let note = '';
  if (list.length > MAX_FILES) {
    note = ` Only the first ${MAX_FILES} of ${list.length} files were taken.`;
    list = list.slice(0, MAX_FILES);
  }
  const bad = [];
  for (const [i, file] of list.entries()) {
    if (batch !== state.batch) return;
    if (list.length > 1) $('songs-section').dataset.pending = String(list.length - i);
    const ok = await handleFile(file);
    if (ok === false) bad.push(file.name);
  }
  if (batch !== state.batch) return;
  delete $('songs-section').dataset.pending;
  if (list.length > 1 && bad.length) {
    showMessage(`${bad.length} of ${list.length} files could not be analysed: ${bad.join(', ')}.${note}`);
  } else if (note) {
    showMessage(note.trim(), 'info');
  }
}

const AUDIO_FILE = /\.(mp3|m4a|aac|mp4|ogg|oga|opus|flac|wav|wave|webm|aif|aiff)$/i;

// The files of a drop; a dropped folder gives its audio files (sorted by path), read
// through the entries API where the browser has it. Must be called in the drop handler.
function droppedFiles(dt) {
  const entries = [...(dt.items || [])].map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
  if (!entries.some((e) => e && e.isDirectory)) return Promise.resolve([...(dt.files || [])]);
  const out = [];
  const walk = async (entry) => {
    if (out.length > MAX_FILES) return;
    if (entry.isFile) {
      if (AUDIO_FILE.test(entry.name)) out.push({ path: entry.fullPath, file: await new Promise((ok, no) => entry.file(ok, no)) });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const part = await new Promise((ok, no) => reader.readEntries(ok, no));
        if (!part.length) break;
        for (const e of part) await walk(e);
      }
    }
  };
  return (async () => {
    for (const e of entries) if (e) await walk(e);
    return out.sort((a, b) => a.path.localeCompare(b.path)).map((x) => x.file);
  })();
}

// ---------------------------------------------------------------- live listening
// What the microphone hears, through the same Rust pipeline as a song: an AudioWorklet
// (mic-worklet.js) hands over the samples, and about once a second the last few seconds
// go to the engine as a short "song" (mono, normalised, resampled, log-mel patches), run
// through the current model; the plane shows the answers as a moving point with its
// recent path. The sound stays in this page.
const LIVE_SECONDS = 4; // the rolling window
const LIVE_EVERY_MS = 1000;
const LIVE_HISTORY = 60; // points of the path on the plane

async function startListening() {
  const entry = currentModel();
  if (!entry || !entry.usable) {
    showMessage('Choose a usable model first.');
    return;
  }
  const gen = ++state.generation;
  state.batch++;
  await cancelRunning();
  clearMessage();
  const button = $('listen');
  button.disabled = true;
  let stream = null;
  let context = null;
  try {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Refused('This browser gives the page no access to a microphone.');
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
    } catch (e) {
      throw new Refused(`The microphone could not be opened (${e.name === 'NotAllowedError' ? 'permission was refused' : e.message}).`);
    }
    if (gen !== state.generation) throw new Cancelled('cancelled');
    context = new AudioContext();
    await context.audioWorklet.addModule('./mic-worklet.js');
    await ensureModel(entry, 'Listening');
    if (gen !== state.generation) throw new Cancelled('cancelled');
    hideProgress();
    const source = context.createMediaStreamSource(stream);
    const tap = new AudioWorkletNode(context, 'mer-tap', { numberOfInputs: 1, numberOfOutputs: 1 });
    const mute = context.createGain();
    mute.gain.value = 0;
    source.connect(tap).connect(mute).connect(context.destination);
    const rate = context.sampleRate;
    const mic = {
      stream, context, rate, entry, gen,
      samples: new Float32Array(Math.round(LIVE_SECONDS * rate)),
      filled: 0, busy: false, history: [], t0: performance.now(), updates: 0,
    };
    tap.port.onmessage = (m) => {
      const chunk = m.data;
      const keep = mic.samples.length - chunk.length;
      mic.samples.copyWithin(0, chunk.length);
      mic.samples.set(chunk, keep);
      mic.filled = Math.min(mic.samples.length, mic.filled + chunk.length);
    };
    mic.timer = setInterval(() => listenOnce(mic), LIVE_EVERY_MS);
    state.mic = mic;
    state.song = null;
    state.songInWorker = false;
    $('audio').removeAttribute('src');
    resetResult('Microphone');
    $('verdict-words').textContent = 'Listening…';
    $('verdict-sub').textContent = 'The point moves about once a second with what the microphone hears.';
    $('result').dataset.source = 'microphone';
    button.textContent = 'Stop listening';
    button.setAttribute('aria-pressed', 'true');
  } catch (e) {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (context) context.close().catch(() => {});
    hideProgress();
    if (!(e instanceof Cancelled)) showMessage(e instanceof Refused ? e.message : `Listening failed: ${e.message}`);
  } finally {
    button.disabled = false;
  }
}

// One answer for the last LIVE_SECONDS of sound.
async function listenOnce(mic) {
  if (mic.busy || state.mic !== mic) return;
  const minimum = Math.ceil(1.05 * mic.rate); // a little over one patch
  if (mic.filled < minimum) return;
  mic.busy = true;
  try {
    const window = mic.samples.slice(mic.samples.length - mic.filled);
    const info = await state.engine.call('song', { channels: [window], sampleRate: mic.rate }, [window.buffer]);
    if (state.mic !== mic) return;
    const probs = await state.engine.call('classifyRange', { start: 0, end: info.patches, modelId: modelIdOf(mic.entry) });
    const p = await state.engine.call('aggregate', { probs }, [probs.buffer]);
    if (state.mic !== mic) return;
    const t = (performance.now() - mic.t0) / 1000;
    mic.history.push({ start: t, end: t + 1, quadrant: p.quadrant, probabilities: p.probabilities, arousal: p.arousal, valence: p.valence });
    if (mic.history.length > LIVE_HISTORY) mic.history.shift();
    mic.updates++;
    renderLive(mic, p);
  } catch (e) {
    // silence, or a window the pipeline refuses: wait for the next second
    if (state.mic === mic) $('verdict-sub').textContent = `Waiting for sound (${e.message}).`;
  } finally {
    mic.busy = false;
  }
}

function renderLive(mic, p) {
  showAnswer(p, mic.entry.file, `What the microphone heard in the last ${LIVE_SECONDS} s, updated about once a second.`);
  $('run-info').textContent = `${mic.entry.title || mic.entry.file} · live, ${mic.updates} answer${mic.updates > 1 ? 's' : ''} so far`;
  drawPlane($('plane'), { ...p, segments: mic.history }, 'now');
  Object.assign($('result').dataset, { source: 'microphone', updates: String(mic.updates) });
}

async function stopListening() {
  const mic = state.mic;
  if (!mic) return;
  state.mic = null;
  clearInterval(mic.timer);
  mic.stream.getTracks().forEach((t) => t.stop());
  await mic.context.close().catch(() => {});
  const button = $('listen');
  button.textContent = 'Listen to the microphone';
  button.setAttribute('aria-pressed', 'false');
  delete $('result').dataset.source;
  if (mic.updates) $('verdict-sub').textContent = 'Stopped listening: the last answer stays on the plane.';
  else resetResult(null);
}

// ---------------------------------------------------------------- the songs table
const songKey = (song, model) => `${song.name}|${song.file.size}|${song.file.lastModified}|${model}`;
const inLibrary = (song) => state.library.some((item) => item.song === song);

// The song on screen, with the model's result, becomes (or updates) a row of the table.
function recordSong(entry) {
  const song = state.song;
  const result = song && state.results.get(entry.file);
  if (!result || !result.prediction) return;
  const p = result.prediction;
  const key = songKey(song, entry.file);
  const row = {
    key,
    name: song.name,
    song,
    results: state.results,
    model: entry.file,
    title: entry.title || entry.file,
    quadrant: p.quadrant,
    arousal: p.arousal,
    valence: p.valence,
    seconds: song.seconds,
  };
  const i = state.library.findIndex((item) => item.key === key);
  if (i >= 0) {
    const old = state.library[i].song;
    state.library[i] = row;
    // the same file analysed again: the copy it replaces lets go of its object URL
    if (old !== song && !inLibrary(old)) URL.revokeObjectURL(old.url);
  } else {
    state.library.push(row);
  }
  drawSongs();
}

function sortedSongs() {
  const { key, dir } = state.sort;
  const rows = [...state.library];
  if (!key) return rows;
  const value = (r) => (key === 'model' ? r.title : r[key]);
  return rows.sort((a, b) => {
    const [x, y] = [value(a), value(b)];
    return dir * (typeof x === 'number' ? x - y : String(x).localeCompare(String(y)));
  });
}

function drawSongs() {
  const section = $('songs-section');
  section.hidden = state.library.length === 0;
  const body = $('songs').tBodies[0];
  body.replaceChildren();
  for (const r of sortedSongs()) {
    const q = quad(r.quadrant);
    const shown = state.song === r.song && currentModel()?.file === r.model;
    const tr = el('tr', { tabindex: '0', 'data-quadrant': r.quadrant, 'data-key': r.key, 'aria-selected': String(shown) });
    const chip = el('span', { class: 'chip small' }, q.name);
    chip.style.background = q.color;
    const qcell = el('td');
    qcell.append(chip, document.createTextNode(` ${q.words}`));
    tr.append(el('td', { class: 'song-name' }, r.name), qcell, el('td', { class: 'num' }, pct(r.arousal)),
      el('td', { class: 'num' }, pct(r.valence)), el('td', { class: 'num' }, clock(r.seconds)), el('td', {}, r.title));
    tr.addEventListener('click', () => showSong(r));
    tr.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        showSong(r);
      }
    });
    body.append(tr);
  }
  for (const th of $('songs').tHead.rows[0].cells) {
    const sorted = th.dataset.key === state.sort.key;
    th.setAttribute('aria-sort', sorted ? (state.sort.dir > 0 ? 'ascending' : 'descending') : 'none');
  }
}

// A row of the table back on screen: its result, trajectory, timeline and audio. Files
// still waiting to be analysed are dropped (the message says how many).
async function showSong(row) {
  const waiting = Number($('songs-section').dataset.pending || 0) - 1;
  state.batch++;
  delete $('songs-section').dataset.pending;
  const gen = ++state.generation;
  await cancelRunning();
  if (gen !== state.generation) return;
  if (state.song && state.song.url && state.song !== row.song && !inLibrary(state.song)) URL.revokeObjectURL(state.song.url);
  hideProgress();
  clearMessage();
  if (waiting > 0) showMessage(`${waiting} file${waiting > 1 ? 's were' : ' was'} not analysed: drop ${waiting > 1 ? 'them' : 'it'} again to analyse ${waiting > 1 ? 'them' : 'it'}.`, 'info');
  $('result').dataset.run = String(gen);
  $('compare-section').hidden = true;
  state.song = row.song;
  state.results = row.results;
  state.songInWorker = false;
  const i = state.models.findIndex((m) => m.file === row.model);
  if (i >= 0) $('model').value = String(i);
  showModelInfo();
  resetResult(row.name);
  $('audio').src = row.song.url;
  renderResult(currentModel(), row.results.get(row.model));
  drawSongs();
  $('result').scrollIntoView({ behavior: 'smooth', block: 'start' });
}

function songsCsv() {
  const text = (x) => `"${String(x).replaceAll('"', '""')}"`;
  const rows = sortedSongs().map((r) => [text(r.name), r.quadrant, round(r.arousal), round(r.valence), round(r.seconds), text(r.model)]);
  downloadCsv('songs.csv', ['song', 'quadrant', 'p_arousal_pos', 'p_valence_pos', 'seconds', 'model'], rows);
}

function failed(e) {
  hideProgress();
  if (!state.song) {
    const audio = $('audio');
    audio.removeAttribute('src');
    audio.load();
  }
  if (e instanceof Refused) {
    showMessage(e.message);
  } else if (e instanceof Cancelled) {
    return;
  } else if (e && e.fatal) {
    showMessage(`The analysis stopped unexpectedly (${e.message}). The engine was restarted; drop the file again to retry.`);
    state.song = null;
    restartEngines();
  } else {
    showMessage(e && e.message ? e.message : String(e));
  }
  $('verdict-words').textContent = 'No result';
  $('verdict-chip').textContent = '!';
}

// Runs one model on the song: patches go out in small batches to whichever worker is free
// (one WebGPU worker, or every CPU worker); returns { prediction, ms, loadMs }. The run
// covers the model's loading too, so that a new analysis waits until an older one can no
// longer load its model into the workers, and each batch names the model it must run on.
async function classify(entry, label) {
  const token = state.runToken;
  const work = classifyWith(entry, label, token);
  state.running = work;
  try {
    return await work;
  } finally {
    if (state.running === work) state.running = null;
  }
}

async function classifyWith(entry, label, token) {
  const loadMs = await ensureModel(entry, label);
  if (token !== state.runToken) throw new Cancelled('cancelled');
  const modelId = modelIdOf(entry);
  const total = state.song.patches;
  const { backend, perPatch } = await state.engine.info;
  const gpu = backend === 'webgpu';
  const batch = gpu ? 64 : 16;
  const all = gpu ? [state.engine] : workers().filter((w) => w === state.engine || w.song === state.generation);
  const probs = new Float32Array(total * perPatch);
  let next = 0;
  let done = 0;
  const t0 = performance.now();
  setProgress(`${label}: listening… (${total} patches)`, 0);
  const run = Promise.all(all.map(async (w) => {
    while (next < total) {
      if (token !== state.runToken) throw new Cancelled('cancelled');
      const start = next;
      const end = Math.min(total, start + batch);
      next = end;
      probs.set(await w.call('classifyRange', { start, end, modelId }), start * perPatch);
      done += end - start;
      if (token === state.runToken) setProgress(`${label}: listening… ${done} of ${total} patches`, done / total);
    }
  }));
  await run;
  const prediction = await state.engine.call('aggregate', { probs }, [probs.buffer]);
  return { prediction, ms: performance.now() - t0, loadMs, workers: all.length };
}

async function analyseWith(entry, gen = state.generation, t0 = performance.now()) {
  const stale = () => gen !== state.generation;
  if (!state.song) return;
  if (!entry) {
    hideProgress();
    showMessage(
      state.models.length === 0
        ? 'There is no model to run: no trained models are shipped with this page yet.'
        : 'Choose a usable model first.',
    );
    return;
  }
  const backend = (await state.engine.info).backend;
  const cached = state.results.get(entry.file);
  let result = cached && cached.prediction ? cached : null;
  if (!result) {
    let out;
    try {
      out = await classify(entry, 'Analysing');
    } catch (e) {
      // WebGPU failing after the engine started (a lost device, a driver error): the page
      // goes on with the CPU, says so, and analyses the song again there.
      if (backend !== 'webgpu' || e instanceof Refused || e instanceof Cancelled || stale()) throw e;
      await fallBackToCpu(e.message);
      if (state.song) handleFile(state.song.file);
      return;
    }
    if (stale()) return;
    result = { ...out, backend, totalMs: performance.now() - t0 };
    state.results.set(entry.file, result);
  }
  hideProgress();
  renderResult(entry, result);
  recordSong(entry);
}

// ---------------------------------------------------------------- compare
// Compare rows: by method, transfer mode, then pretraining language.
function variantOrder(a, b) {
  const key = (e) => {
    const v = variantOf(e);
    return [['scae', 'cpc', 'none'].indexOf(v.methodKey), ['feat-ext', 'full'].indexOf(v.modeKey), ['eng', 'man', 'mix', 'none'].indexOf(v.lang)];
  };
  const [x, y] = [key(a), key(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

async function compareAll() {
  if (!state.song) return;
  if (!state.songInWorker) {
    // a song shown again from the table: its spectrogram goes back to the workers first
    if (!(await handleFile(state.song.file))) return;
  }
  const gen = state.generation;
  const stale = () => gen !== state.generation;
  const usable = state.models.filter((m) => m.usable).sort(variantOrder);
  $('compare-section').hidden = false;
  clearMessage();
  $('compare').disabled = true;
  try {
    await cancelRunning();
    for (const [k, entry] of usable.entries()) {
      if (stale()) return;
      if (!state.results.has(entry.file)) {
        const t0 = performance.now();
        try {
          const out = await classify(entry, `Model ${k + 1} of ${usable.length}`);
          if (stale()) return;
          const backend = (await state.engine.info).backend;
          state.results.set(entry.file, { ...out, backend, totalMs: performance.now() - t0 });
        } catch (e) {
          // one unusable model file does not stop the comparison
          if (!(e instanceof Refused) || stale()) throw e;
          state.results.set(entry.file, { error: e.message });
        }
      }
      drawCompare(usable);
    }
    hideProgress();
    $('compare-section').scrollIntoView({ behavior: 'smooth', block: 'start' });
  } catch (e) {
    if (!stale()) failed(e);
  } finally {
    $('compare').disabled = false;
  }
}

// ---------------------------------------------------------------- rendering
// An answer (a song's, or the microphone's last) in words, bars and numbers, with the
// result's data hooks; `sub` is the line under the verdict.
function showAnswer(p, model, sub) {
  const q = quad(p.quadrant);
  $('verdict-chip').textContent = q.name;
  $('verdict-chip').style.background = q.color;
  $('verdict-words').textContent = `Sounds ${q.words}`;
  $('verdict-sub').textContent = sub;
  drawProbs(p);
  $('p-arousal').textContent = pct(p.arousal);
  $('p-valence').textContent = pct(p.valence);
  Object.assign($('result').dataset, {
    probabilities: JSON.stringify(p.probabilities),
    arousal: String(p.arousal),
    valence: String(p.valence),
    model,
    quadrant: p.quadrant,
  });
}

function renderResult(entry, result) {
  const p = result.prediction;
  const q = quad(p.quadrant);
  const second = p.segments.filter((s) => s.quadrant === p.quadrant).length;
  showAnswer(p, entry.file, `${q.sign} · ${Math.round((100 * second) / p.segments.length)} % of the song’s moments are ${q.name}`);
  const s = state.song;
  const backendWords = result.backend === 'webgpu'
    ? 'WebGPU'
    : `the CPU (WebAssembly${result.workers > 1 ? `, ${result.workers} workers` : ''})`;
  $('run-info').textContent =
    `${entry.title || entry.file} on ${backendWords} · ${durationWords(s.seconds)}, ${s.patches} patches · ` +
    `result in ${(result.totalMs / 1000).toFixed(1)} s (decoding ${(s.decodeMs / 1000).toFixed(1)} s, ` +
    `features ${(s.featuresMs / 1000).toFixed(1)} s, model ${(result.loadMs / 1000).toFixed(1)} s, ` +
    `network ${(result.ms / 1000).toFixed(1)} s)`;
  drawPlane($('plane'), p);
  drawTimeline(p);
  Object.assign($('result').dataset, { ms: String(Math.round(result.totalMs)), backend: result.backend });
  for (const id of EXPORTS) $(id).disabled = false;
  $('result').classList.add('ready');
}

// ---------------------------------------------------------------- exports
// The result on screen, downloaded: one row per patch as CSV or JSON (with the model, the
// song and the song's answer), and the arousal-valence plane as a PNG.
const EXPORTS = ['export-csv', 'export-json', 'export-png'];
const PATCH_COLUMNS = ['start_s', 'end_s', 'quadrant', 'p_q1', 'p_q2', 'p_q3', 'p_q4', 'p_arousal_pos', 'p_valence_pos'];

// The song and model of the result on screen, or null.
function shownResult() {
  const entry = currentModel();
  const p = currentPrediction();
  return entry && p && state.song ? { entry, p, song: state.song } : null;
}

const round = (x) => Math.round(x * 1e6) / 1e6;
const patchRow = (s) => [round(s.start), round(s.end), s.quadrant, ...s.probabilities.map(round), round(s.arousal), round(s.valence)];

function exportName(shown, ext) {
  const base = (name) => name.replace(/\.[^.]*$/, '').replace(/[^\p{L}\p{N}._-]+/gu, '_');
  return `${base(shown.song.name)}.${base(shown.entry.file)}.${ext}`;
}

function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// A CSV file of a header and rows (values already written as CSV fields).
function downloadCsv(name, header, rows) {
  const lines = [header, ...rows].map((r) => r.join(','));
  download(name, new Blob([`${lines.join('\n')}\n`], { type: 'text/csv' }));
}

function exportCsv() {
  const shown = shownResult();
  if (!shown) return;
  downloadCsv(exportName(shown, 'csv'), PATCH_COLUMNS, shown.p.segments.map(patchRow));
}

function exportJson() {
  const shown = shownResult();
  if (!shown) return;
  const { entry, p, song } = shown;
  const out = {
    song: { name: song.name, seconds: round(song.seconds), patches: p.segments.length },
    model: { file: entry.file, title: entry.title || entry.file, variant: entry.meta.variant, precision: entry.meta.precision },
    answer: { quadrant: p.quadrant, probabilities: p.probabilities.map(round), p_arousal_pos: round(p.arousal), p_valence_pos: round(p.valence) },
    columns: PATCH_COLUMNS,
    patches: p.segments.map(patchRow),
  };
  download(exportName(shown, 'json'), new Blob([JSON.stringify(out, null, 1)], { type: 'application/json' }));
}

// The plane as drawn, its stylesheet rules inlined (an SVG drawn as an image sees no
// page CSS), on a white card with a caption, at twice the screen's resolution.
const INLINED = ['fill', 'fill-opacity', 'stroke', 'stroke-width', 'stroke-opacity', 'stroke-dasharray', 'stroke-linecap', 'stroke-linejoin', 'opacity', 'font-family', 'font-size', 'font-weight', 'text-anchor', 'dominant-baseline', 'letter-spacing', 'paint-order'];

async function exportPng() {
  const shown = shownResult();
  if (!shown) return;
  const live = $('plane');
  const copy = live.cloneNode(true);
  const from = [live, ...live.querySelectorAll('*')];
  const to = [copy, ...copy.querySelectorAll('*')];
  from.forEach((node, i) => {
    const cs = getComputedStyle(node);
    to[i].setAttribute('style', INLINED.map((k) => `${k}:${cs.getPropertyValue(k)}`).join(';'));
  });
  copy.querySelector('#now-dot')?.remove();
  copy.setAttribute('width', '400');
  copy.setAttribute('height', '400');
  copy.setAttribute('xmlns', SVG);
  const img = new Image();
  img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(new XMLSerializer().serializeToString(copy))}`;
  await img.decode();
  const scale = 2;
  const canvas = document.createElement('canvas');
  canvas.width = 400 * scale;
  canvas.height = 460 * scale;
  const g = canvas.getContext('2d');
  g.scale(scale, scale);
  g.fillStyle = '#ffffff';
  g.fillRect(0, 0, 400, 460);
  g.drawImage(img, 0, 0, 400, 400);
  // a caption line, shortened with an ellipsis to the card's width
  const caption = (text, y) => {
    let t = text;
    while (t.length > 1 && g.measureText(t).width > 368) t = `${t.slice(0, -2)}…`;
    g.fillText(t, 16, y);
  };
  const q = quad(shown.p.quadrant);
  g.fillStyle = '#1d2230';
  g.font = '600 15px system-ui, sans-serif';
  caption(`${shown.song.name}: ${q.name}, ${q.words}`, 424);
  g.font = '12px system-ui, sans-serif';
  g.fillStyle = '#667085';
  caption(`P(arousal +) ${pct(shown.p.arousal)} · P(valence +) ${pct(shown.p.valence)} · ${shown.entry.title || shown.entry.file}`, 446);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (blob) download(exportName(shown, 'png'), blob);
}

// The four probabilities as bars (empty before a result).
function drawProbs(p) {
  const probs = $('probs');
  probs.replaceChildren();
  QUADS.forEach((qq, i) => {
    const row = el('div', { class: `prob${p && qq.name === p.quadrant ? ' best' : ''}` });
    row.append(el('span', { class: 'prob-name' }, `${qq.name} ${qq.words}`));
    const bar = el('span', { class: 'prob-bar' });
    const fill = el('span', { class: 'prob-fill' });
    fill.style.width = p ? `${p.probabilities[i] * 100}%` : '0';
    fill.style.background = qq.color;
    bar.append(fill);
    row.append(bar, el('span', { class: 'prob-v' }, p ? pct(p.probabilities[i]) : '–'));
    probs.append(row);
  });
}

// The plane: x = P(valence +), y = P(arousal +), both from 0 to 1, midpoint 0.5.
const PAD = 44;
const SIZE = 400 - 2 * PAD;
const px = (v) => PAD + v * SIZE;
const py = (a) => PAD + (1 - a) * SIZE;

function planeFrame(node) {
  node.replaceChildren();
  const corners = [
    { q: QUADS[0], x: 200, y: PAD, anchor: 'end', dx: SIZE / 2 - 8, dy: 18 },
    { q: QUADS[1], x: PAD, y: PAD, anchor: 'start', dx: 8, dy: 18 },
    { q: QUADS[2], x: PAD, y: 200, anchor: 'start', dx: 8, dy: SIZE / 2 - 10 },
    { q: QUADS[3], x: 200, y: 200, anchor: 'end', dx: SIZE / 2 - 8, dy: SIZE / 2 - 10 },
  ];
  for (const c of corners) {
    node.append(svg('rect', { x: c.x, y: c.y, width: SIZE / 2, height: SIZE / 2, fill: c.q.color, 'fill-opacity': 0.1 }));
    node.append(svg('text', { x: c.x + c.dx, y: c.y + c.dy, 'text-anchor': c.anchor, class: 'q-label', fill: c.q.color }, `${c.q.name} ${c.q.words}`));
  }
  node.append(svg('rect', { x: PAD, y: PAD, width: SIZE, height: SIZE, class: 'plane-border' }));
  node.append(svg('line', { x1: PAD, y1: 200, x2: PAD + SIZE, y2: 200, class: 'axis' }));
  node.append(svg('line', { x1: 200, y1: PAD, x2: 200, y2: PAD + SIZE, class: 'axis' }));
  node.append(svg('text', { x: 200, y: 400 - 12, 'text-anchor': 'middle', class: 'axis-label' }, 'valence →'));
  node.append(svg('text', { x: PAD, y: 400 - 12, 'text-anchor': 'start', class: 'axis-end' }, 'negative'));
  node.append(svg('text', { x: PAD + SIZE, y: 400 - 12, 'text-anchor': 'end', class: 'axis-end' }, 'positive'));
  const left = svg('text', { x: 0, y: 0, 'text-anchor': 'middle', class: 'axis-label', transform: `translate(16 200) rotate(-90)` }, 'arousal →');
  node.append(left);
  node.append(svg('text', { x: 0, y: 0, 'text-anchor': 'start', class: 'axis-end', transform: `translate(16 ${PAD + SIZE}) rotate(-90)` }, 'calm'));
  node.append(svg('text', { x: 0, y: 0, 'text-anchor': 'end', class: 'axis-end', transform: `translate(16 ${PAD}) rotate(-90)` }, 'energetic'));
}

function smooth(values, radius) {
  return values.map((_, i) => {
    let s = 0;
    let n = 0;
    for (let j = Math.max(0, i - radius); j <= Math.min(values.length - 1, i + radius); j++) {
      s += values[j];
      n++;
    }
    return s / n;
  });
}

function drawPlane(node, p, label = 'song mean') {
  planeFrame(node);
  if (!p) {
    node.append(svg('text', { x: 200, y: 206, 'text-anchor': 'middle', class: 'plane-empty' }, 'the song will appear here'));
    return;
  }
  const segs = p.segments;
  const a = smooth(segs.map((s) => s.arousal), 2);
  const v = smooth(segs.map((s) => s.valence), 2);
  for (const s of segs) {
    node.append(svg('circle', { cx: px(s.valence), cy: py(s.arousal), r: 2.4, fill: quad(s.quadrant).color, 'fill-opacity': 0.45 }));
  }
  if (segs.length > 1) {
    const d = a.map((ai, i) => `${i ? 'L' : 'M'}${px(v[i]).toFixed(1)} ${py(ai).toFixed(1)}`).join(' ');
    node.append(svg('path', { d, class: 'trajectory' }));
  }
  const mean = svg('g', { class: 'mean' });
  mean.append(svg('circle', { cx: px(p.valence), cy: py(p.arousal), r: 10, fill: quad(p.quadrant).color, class: 'mean-dot' }));
  mean.append(svg('text', { x: px(p.valence) + 14, y: py(p.arousal) + 4, class: 'mean-label' }, label));
  node.append(mean);
  const now = svg('circle', { id: 'now-dot', r: 6, cx: -20, cy: -20, class: 'now-dot' });
  node.append(now);
}

function songDuration() {
  const a = $('audio');
  if (Number.isFinite(a.duration) && a.duration > 0) return a.duration;
  return state.song ? state.song.seconds : 0;
}

function drawTimeline(p) {
  const node = $('timeline-svg');
  node.replaceChildren();
  const axis = $('timeline-axis');
  axis.replaceChildren();
  $('timeline').classList.toggle('empty', !p);
  if (!p) return;
  const total = Math.max(songDuration(), p.segments.at(-1).end);
  node.setAttribute('viewBox', `0 0 ${total} 1`);
  const hop = p.segments.length > 1 ? p.segments[1].start - p.segments[0].start : p.segments[0].end;
  p.segments.forEach((s, i) => {
    const end = i + 1 < p.segments.length ? s.start + hop : total;
    const top = Math.max(...s.probabilities);
    node.append(svg('rect', { x: s.start, y: 0, width: Math.max(0, end - s.start), height: 1, fill: quad(s.quadrant).color, 'fill-opacity': 0.35 + 0.65 * top, 'shape-rendering': 'crispEdges' }));
  });
  const step = total > 600 ? 120 : total > 240 ? 60 : total > 60 ? 30 : total > 20 ? 5 : 1;
  for (let t = 0; t <= total + 1e-6; t += step) {
    const tick = el('span', {}, clock(t));
    tick.style.left = `${(100 * t) / total}%`;
    axis.append(tick);
  }
}

function drawLegend() {
  const legend = $('legend');
  legend.replaceChildren();
  for (const q of QUADS) {
    const item = el('span', { class: 'legend-item' });
    const sw = el('span', { class: 'swatch' });
    sw.style.background = q.color;
    item.append(sw, document.createTextNode(`${q.name} ${q.words}`));
    legend.append(item);
  }
}

// Playback: the playhead on the timeline and the moving point on the plane.
function syncPlayback() {
  const a = $('audio');
  const p = currentPrediction();
  const total = p ? Math.max(songDuration(), p.segments.at(-1).end) : songDuration();
  const head = $('playhead');
  if (!p || !total) {
    head.hidden = true;
    return;
  }
  head.hidden = false;
  head.style.left = `${(100 * a.currentTime) / total}%`;
  const hop = p.segments.length > 1 ? p.segments[1].start - p.segments[0].start : 1;
  // the patch centred nearest to now
  const len = p.segments[0].end - p.segments[0].start;
  const i = Math.max(0, Math.min(p.segments.length - 1, Math.round((a.currentTime - len / 2) / hop)));
  const s = p.segments[i];
  const dot = document.getElementById('now-dot');
  if (dot) {
    const show = a.currentTime > 0 || !a.paused;
    dot.setAttribute('cx', show ? px(s.valence) : -20);
    dot.setAttribute('cy', show ? py(s.arousal) : -20);
    dot.setAttribute('fill', quad(s.quadrant).color);
  }
}

function currentPrediction() {
  const e = currentModel();
  const r = e && state.results.get(e.file);
  return r && r.prediction ? r.prediction : null;
}

let raf = 0;
function animate() {
  syncPlayback();
  if (!$('audio').paused) raf = requestAnimationFrame(animate);
}

function drawCompare(usable) {
  const grid = $('compare-grid');
  grid.replaceChildren();
  const table = el('table');
  const head = el('tr');
  for (const h of ['Model (pretraining speech)', 'Test F1', 'Heard as', 'Q1 · Q2 · Q3 · Q4', 'P(A+)', 'P(V+)']) head.append(el('th', {}, h));
  const thead = el('thead');
  thead.append(head);
  table.append(thead);
  const body = el('tbody');
  const plane = $('compare-plane');
  planeFrame(plane);
  const langColor = { eng: '#8e44ad', man: '#c0392b', mix: '#16a085', none: '#7f8c8d' };
  const counts = {};
  for (const entry of usable) {
    const r = state.results.get(entry.file);
    const v = variantOf(entry);
    const tr = el('tr');
    const name = el('td', { title: entry.file });
    name.append(el('div', {}, `${v.method} · ${v.mode}`), el('div', { class: 'file' }, v.methodKey === 'none' ? entry.file : LANG[v.lang] || v.lang));
    const sc = testScores(entry);
    tr.append(name, el('td', { class: 'num' }, sc ? f2(sc.patch[0]) : '–'));
    if (!r || r.error) {
      tr.append(el('td', { colspan: 4, class: r ? 'failed' : 'pending', title: r ? r.error : '' }, r ? 'cannot be used (damaged file)' : 'waiting…'));
      body.append(tr);
      continue;
    }
    const p = r.prediction;
    counts[p.quadrant] = (counts[p.quadrant] || 0) + 1;
    const q = quad(p.quadrant);
    const chipCell = el('td');
    const chip = el('span', { class: 'chip small' }, q.name);
    chip.style.background = q.color;
    chipCell.append(chip, document.createTextNode(` ${q.words.split(' / ')[0]}`));
    chipCell.title = q.words;
    const barCell = el('td');
    const stack = el('span', { class: 'stack', title: p.probabilities.map((x, i) => `${QUADS[i].name} ${pct(x)}`).join(', ') });
    p.probabilities.forEach((x, i) => {
      const part = el('span');
      part.style.width = `${x * 100}%`;
      part.style.background = QUADS[i].color;
      stack.append(part);
    });
    barCell.append(stack);
    tr.append(chipCell, barCell, el('td', { class: 'num' }, pct(p.arousal)), el('td', { class: 'num' }, pct(p.valence)));
    body.append(tr);
    // the model's song mean on the shared plane
    const x = px(p.valence);
    const y = py(p.arousal);
    const color = langColor[v.lang] || '#555';
    const hollow = v.modeKey !== 'full';
    const common = { fill: hollow ? 'white' : color, stroke: color, 'stroke-width': 2.5 };
    const mark = v.methodKey === 'cpc'
      ? svg('rect', { x: x - 6, y: y - 6, width: 12, height: 12, ...common })
      : svg('circle', { cx: x, cy: y, r: 7, ...common });
    mark.append(svg('title', {}, `${entry.title || entry.file}: ${p.quadrant}`));
    plane.append(mark);
  }
  table.append(body);
  const done = usable.filter((e) => state.results.has(e.file) && !state.results.get(e.file).error).length;
  const top = Object.entries(counts).sort((a, b) => b[1] - a[1])[0];
  const summary = el('p', { class: 'compare-summary' },
    top ? `${top[1]} of ${done} models hear ${top[0]} (${quad(top[0]).words}).` : '');
  const legend = el('p', { class: 'compare-legend' },
    'On the plane: colour = speech language (purple English, red Mandarin, green both, grey none); circle = SCAE, square = CPC; filled = Full, hollow = Feat. Ext.');
  grid.append(summary, table, legend);
}

// ---------------------------------------------------------------- backend pill
async function showBackend() {
  const pill = $('backend');
  pill.textContent = 'starting…';
  delete pill.dataset.backend;
  try {
    const info = await state.engine.info;
    if (info.backend === 'cpu') await startHelpers();
    const n = workers().length;
    pill.textContent = info.backend === 'webgpu'
      ? `WebGPU${info.adapter ? ` · ${info.adapter}` : ''}`
      : `CPU · WebAssembly${n > 1 ? ` × ${n} workers` : ''}`;
    pill.dataset.backend = info.backend;
    pill.title = info.note || (info.backend === 'webgpu' ? 'The network runs on your GPU through WebGPU' : 'The network runs on the CPU in WebAssembly');
    if (state.gpuFailure && info.backend === 'cpu') {
      pill.textContent += ' (WebGPU failed)';
      pill.title = state.gpuFailure;
    }
  } catch (e) {
    pill.textContent = 'engine failed';
    showMessage(`The analysis engine could not start: ${e.message}`);
  }
}

// ---------------------------------------------------------------- wiring
function wire() {
  $('file').addEventListener('change', (e) => {
    const files = [...e.target.files];
    e.target.value = '';
    analyseFiles(files);
  });
  const overlay = $('drop-overlay');
  let depth = 0;
  window.addEventListener('dragenter', (e) => {
    if (![...(e.dataTransfer?.types || [])].includes('Files')) return;
    e.preventDefault();
    depth++;
    overlay.hidden = false;
  });
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) overlay.hidden = true;
  });
  window.addEventListener('drop', (e) => {
    e.preventDefault();
    depth = 0;
    overlay.hidden = true;
    if (!e.dataTransfer) return;
    droppedFiles(e.dataTransfer).then(analyseFiles, (err) => showMessage(`The dropped folder could not be read: ${err.message}`));
  });
  $('songs-csv').addEventListener('click', songsCsv);
  $('forget-offline').addEventListener('click', () => forgetOffline().catch((e) => showMessage(`The offline copy could not be removed: ${e.message}`)));
  $('listen').addEventListener('click', () => (state.mic ? stopListening() : startListening()));
  for (const th of $('songs').tHead.rows[0].cells) {
    th.querySelector('button').addEventListener('click', () => {
      const key = th.dataset.key;
      state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
      drawSongs();
    });
  }
  $('export-csv').addEventListener('click', exportCsv);
  $('export-json').addEventListener('click', exportJson);
  $('export-png').addEventListener('click', () => exportPng().catch((e) => showMessage(`The image could not be made: ${e.message}`)));
  $('model').addEventListener('change', async () => {
    showModelInfo();
    if (state.mic) {
      // listening goes on with the model chosen
      await stopListening();
      await startListening();
      return;
    }
    if (!state.song) return;
    if (!state.songInWorker) {
      handleFile(state.song.file);
      return;
    }
    clearMessage();
    const gen = state.generation;
    try {
      await cancelRunning();
      await analyseWith(currentModel(), gen, performance.now());
    } catch (e) {
      if (gen === state.generation) failed(e);
    }
  });
  $('compare').addEventListener('click', compareAll);
  const audio = $('audio');
  audio.addEventListener('play', () => {
    cancelAnimationFrame(raf);
    raf = requestAnimationFrame(animate);
  });
  audio.addEventListener('pause', syncPlayback);
  audio.addEventListener('seeked', syncPlayback);
  audio.addEventListener('timeupdate', syncPlayback);
  audio.addEventListener('loadedmetadata', () => {
    const p = currentPrediction();
    if (p) drawTimeline(p);
  });
  $('timeline').addEventListener('click', (e) => {
    const p = currentPrediction();
    if (!p) return;
    const rect = e.currentTarget.getBoundingClientRect();
    const frac = Math.max(0, Math.min(1, (e.clientX - rect.left) / rect.width));
    const total = Math.max(songDuration(), p.segments.at(-1).end);
    audio.currentTime = frac * total;
    syncPlayback();
    audio.play().catch(() => {});
  });
}

function main() {
  const backend = ['cpu', 'webgpu', 'auto'].includes(params.get('backend')) ? params.get('backend') : 'auto';
  state.engine = new Engine(backend);
  wire();
  drawLegend();
  resetResult(null);
  showBackend();
  state.modelsLoaded = loadModels().catch(() => {});
  keepOffline();
}

// ---------------------------------------------------------------- offline
// sw.js keeps the page and its engine; the models used are in CACHE_NAME already.
async function keepOffline() {
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

async function forgetOffline() {
  for (const reg of await navigator.serviceWorker?.getRegistrations?.() ?? []) await reg.unregister();
  for (const name of await caches.keys()) {
    if (name.startsWith('mer-page-') || name === CACHE_NAME) await caches.delete(name);
  }
  delete document.documentElement.dataset.offline;
  $('offline-status').textContent = 'The offline copy and the kept models were removed; the next visit downloads them again.';
}

main();
