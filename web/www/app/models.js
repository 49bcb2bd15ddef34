// The list of models (models/index.json), checked and described by the engine
// (checkIndex: usable or why not, and the variant in words), the picker and the line that
// describes the chosen model.
import { $, el, showMessage } from './dom.js';
import { f2, mb } from './format.js';
import { currentModel, params, state } from './state.js';

// The variant of an entry whose metadata has none.
const UNKNOWN = { method: '?', methodKey: '?', language: '?', languageKey: '?', mode: '?', modeKey: '?', rank: [3, 2, 4] };

// A short fingerprint of an index entry: a new file under the same name is a new version.
function hash(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16);
}

// The test scores `trainer` writes: metrics.test.{patch,song}.{quadrant,arousal,valence}.
export function testScores(entry) {
  const t = entry.meta && entry.meta.metrics && entry.meta.metrics.test;
  if (!t || !t.patch) return null;
  const f1 = (level) => ['quadrant', 'arousal', 'valence'].map((k) => (level && level[k] ? level[k].f1_weighted : NaN));
  return { patch: f1(t.patch), song: f1(t.song), songs: t.songs };
}

// Any other scores: the first few numbers of meta.metrics.
function otherMetrics(m) {
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
  return m && typeof m === 'object' ? otherMetrics(m) : 'no test scores recorded';
}

// index.json's text (null: there is none), or throws.
async function fetchIndex() {
  const res = await fetch('models/index.json', { cache: 'no-cache' });
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res.text();
}

// The entries of the index, each with usable / why / version / variant, and its default.
async function readIndex(text) {
  const index = JSON.parse(text);
  const entries = index.models || [];
  const checked = await state.engine.call('checkIndex', { json: text });
  entries.forEach((e, i) => {
    e.why = checked[i].why;
    e.usable = !checked[i].why;
    e.variant = checked[i].variant || UNKNOWN;
    e.version = hash(`${e.size}:${JSON.stringify(e.meta)}`);
  });
  return { entries, defaultFile: typeof index.default === 'string' ? index.default : null };
}

// The picker's options, grouped by method and transfer mode.
function fillPicker(select, entries) {
  select.replaceChildren();
  const groups = new Map();
  for (const [i, e] of entries.entries()) {
    const key = `${e.variant.method} · ${e.variant.mode}`;
    if (!groups.has(key)) groups.set(key, el('optgroup', { label: key }));
    const sc = testScores(e);
    const precision = e.meta && e.meta.precision ? ` ${e.meta.precision}` : '';
    const label = `${e.title || e.file} — ${mb(e.size)}${precision}${sc ? ` — test F1 ${f2(sc.patch[0])}` : ''}${e.usable ? '' : ' (unusable)'}`;
    const opt = el('option', { value: String(i) }, label);
    if (!e.usable) opt.disabled = true;
    groups.get(key).append(opt);
  }
  select.append(...groups.values());
}

// ?model=FILE, else the index's default (the best on held-out real music), else the model
// with the best test score, else the first usable one; -1 if none is usable.
function firstChoice(entries, defaultFile) {
  const wanted = entries.findIndex((e) => e.usable && e.file === params.get('model'));
  const named = entries.findIndex((e) => e.usable && e.file === defaultFile);
  let best = -1;
  entries.forEach((e, i) => {
    const f = testScores(e)?.patch[0];
    if (e.usable && Number.isFinite(f) && (best < 0 || f > testScores(entries[best]).patch[0])) best = i;
  });
  return [wanted, named, best].find((i) => i >= 0) ?? entries.findIndex((e) => e.usable);
}

function noModels(select) {
  select.replaceChildren(el('option', {}, 'no models shipped yet'));
  $('model-info').textContent =
    'No trained models are shipped with this page yet. Train them with the trainer and list them with `trainer index models/`; they will appear here.';
  $('model-info').classList.add('warn');
}

export async function loadModels() {
  const select = $('model');
  let text;
  try {
    text = await fetchIndex();
  } catch (e) {
    select.replaceChildren(el('option', {}, 'model list unavailable'));
    showMessage(`The list of models could not be loaded (${e.message}).`);
    return;
  }
  let index = { entries: [], defaultFile: null };
  if (text !== null) {
    try {
      index = await readIndex(text);
    } catch (e) {
      select.replaceChildren(el('option', {}, 'model list unreadable'));
      showMessage(`The list of models (models/index.json) is unreadable: ${e.message}`);
      return;
    }
  }
  const { entries, defaultFile } = index;
  state.models = entries;
  if (entries.length === 0) {
    noModels(select);
    return;
  }
  fillPicker(select, entries);
  const pick = firstChoice(entries, defaultFile);
  if (pick >= 0) select.value = String(pick);
  select.disabled = false;
  $('compare').disabled = entries.filter((e) => e.usable).length < 1;
  $('listen').disabled = !entries.some((e) => e.usable);
  showModelInfo();
}

// The line under the picker: the chosen model's variant, size, precision and scores.
export function showModelInfo() {
  const e = currentModel();
  const info = $('model-info');
  info.classList.remove('warn');
  if (!e) {
    info.textContent = '';
    return;
  }
  const v = e.variant;
  const precision = (e.meta && e.meta.precision) || '?';
  const pretraining = v.methodKey === 'none' ? 'no speech pretraining' : `${v.method}, pretrained on ${v.language} speech`;
  info.textContent = `${pretraining}, ${v.mode} transfer · ${mb(e.size)} (${precision}) · ${metricWords(e)}`;
  if (!e.usable) {
    info.textContent += ` · unusable: ${e.why}`;
    info.classList.add('warn');
  }
}
