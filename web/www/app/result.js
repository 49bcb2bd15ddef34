// The result card: an answer in words, bars, numbers and drawings, with its test hooks.
// Once a song-level result is shown, #result carries data-quadrant (Q1..Q4), data-backend
// (webgpu | cpu), data-probabilities (JSON [Q1..Q4]), data-arousal, data-valence,
// data-model and data-ms (drop to result, milliseconds).
import { $ } from './dom.js';
import { drawPlane, drawProbs, drawTimeline } from './draw.js';
import { durationWords, pct } from './format.js';
import { quad } from './quadrants.js';
import { state } from './state.js';

// The download buttons (exports.js), usable while a song's result is shown.
const EXPORTS = ['export-csv', 'export-json', 'export-png'];

// An empty card for the song `name` (null: no song).
export function resetResult(name) {
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
  $('result-status').textContent = '';
}

// An answer (a song's, or the microphone's last) in words, bars and numbers, with the
// result's data hooks; `sub` is the line under the verdict.
export function showAnswer(p, model, sub) {
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

// Where the time of a run went.
function runWords(entry, result) {
  const s = state.song;
  const backendWords = result.backend === 'webgpu'
    ? 'WebGPU'
    : `the CPU (WebAssembly${result.workers > 1 ? `, ${result.workers} workers` : ''})`;
  return `${entry.title || entry.file} on ${backendWords} · ${durationWords(s.seconds)}, ${s.patches} patches · ` +
    `result in ${(result.totalMs / 1000).toFixed(1)} s (decoding ${(s.decodeMs / 1000).toFixed(1)} s, ` +
    `features ${(s.featuresMs / 1000).toFixed(1)} s, model ${(result.loadMs / 1000).toFixed(1)} s, ` +
    `network ${(result.ms / 1000).toFixed(1)} s)`;
}

// A model's result for the song on screen.
export function renderResult(entry, result) {
  const p = result.prediction;
  const q = quad(p.quadrant);
  const second = p.segments.filter((s) => s.quadrant === p.quadrant).length;
  const share = `${Math.round((100 * second) / p.segments.length)} % of the song’s moments are ${q.name}`;
  showAnswer(p, entry.file, `${q.sign} · ${share}`);
  $('run-info').textContent = runWords(entry, result);
  drawPlane($('plane'), p);
  drawTimeline(p);
  Object.assign($('result').dataset, { ms: String(Math.round(result.totalMs)), backend: result.backend });
  for (const id of EXPORTS) $(id).disabled = false;
  $('result').classList.add('ready');
  sayResult(`${state.song ? `${state.song.name}: ` : ''}${q.name}, ${q.words} (${q.sign}); ${share}.`);
}

// Says a result once through the result's polite live region.
export function sayResult(text) {
  $('result-status').textContent = text;
}

// After a file's result: the focus goes to the result, unless the user has moved it
// elsewhere meanwhile (only from nowhere, or from the file picker).
export function focusResult() {
  const at = document.activeElement;
  if (!at || at === document.body || at.id === 'file') $('result').focus({ preventScroll: true });
}
