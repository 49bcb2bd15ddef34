// The songs analysed during the visit: a sortable table (#songs), one row per song and
// model; a row shows its song again; the table downloads as CSV.
import { cancelRunning } from './analysis.js';
import { $, clearMessage, el, hideProgress, showMessage } from './dom.js';
import { downloadCsv } from './exports.js';
import { clock, pct, round } from './format.js';
import { showModelInfo } from './models.js';
import { quad } from './quadrants.js';
import { renderResult, resetResult } from './result.js';
import { currentModel, state } from './state.js';

const songKey = (song, model) => `${song.name}|${song.file.size}|${song.file.lastModified}|${model}`;
export const inLibrary = (song) => state.library.some((item) => item.song === song);

// The song on screen, with the model's result, becomes (or updates) a row of the table.
export function recordSong(entry) {
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

function songRow(r) {
  const q = quad(r.quadrant);
  const shown = state.song === r.song && currentModel()?.file === r.model;
  const tr = el('tr', { tabindex: '0', 'data-quadrant': r.quadrant, 'data-key': r.key, 'aria-selected': String(shown) });
  // the row on screen, for a screen reader (aria-selected means nothing in a plain table)
  if (shown) tr.setAttribute('aria-current', 'true');
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
  return tr;
}

export function drawSongs() {
  $('songs-section').hidden = state.library.length === 0;
  // the rows are drawn anew: a focused row keeps the focus
  const focused = document.activeElement?.closest?.('#songs tbody tr')?.dataset.key;
  $('songs').tBodies[0].replaceChildren(...sortedSongs().map(songRow));
  if (focused) [...$('songs').tBodies[0].rows].find((tr) => tr.dataset.key === focused)?.focus();
  for (const th of $('songs').tHead.rows[0].cells) {
    const sorted = th.dataset.key === state.sort.key;
    th.setAttribute('aria-sort', sorted ? (state.sort.dir > 0 ? 'ascending' : 'descending') : 'none');
  }
}

// A click on a column's title sorts by it (again: the other way round).
export function sortSongsBy(key) {
  state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
  drawSongs();
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

export function songsCsv() {
  const text = (x) => `"${String(x).replaceAll('"', '""')}"`;
  const rows = sortedSongs().map((r) => [text(r.name), r.quadrant, round(r.arousal), round(r.valence), round(r.seconds), text(r.model)]);
  downloadCsv('songs.csv', ['song', 'quadrant', 'p_arousal_pos', 'p_valence_pos', 'seconds', 'model'], rows);
}
