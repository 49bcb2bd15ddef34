// Compare: every usable model on the song, as a table and as marks on a shared plane.
import { classify, failed, handleFile, cancelRunning } from './analysis.js';
import { $, announce, clearMessage, el, hideProgress, svg } from './dom.js';
import { planeFrame, px, py } from './draw.js';
import { f2, pct } from './format.js';
import { testScores } from './models.js';
import { QUADS, quad } from './quadrants.js';
import { Refused, state } from './state.js';

// Rows by method, transfer mode, then pretraining language (the rank Rust gives).
function variantOrder(a, b) {
  const [x, y] = [a.variant.rank, b.variant.rank];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

// One model's run, kept in state.results (an unusable file as { error }).
async function compareOne(entry, label) {
  const t0 = performance.now();
  try {
    const out = await classify(entry, label);
    const backend = (await state.engine.info).backend;
    return { ...out, backend, totalMs: performance.now() - t0 };
  } catch (e) {
    // one unusable model file does not stop the comparison
    if (!(e instanceof Refused)) throw e;
    return { error: e.message };
  }
}

export async function compareAll() {
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
  // disabled while it runs, which takes the focus away: it goes to the comparison after
  const focused = document.activeElement === $('compare');
  $('compare').disabled = true;
  try {
    await cancelRunning();
    for (const [k, entry] of usable.entries()) {
      if (stale()) return;
      if (!state.results.has(entry.file)) {
        const result = await compareOne(entry, `Model ${k + 1} of ${usable.length}`);
        if (stale()) return;
        state.results.set(entry.file, result);
      }
      drawCompare(usable);
    }
    hideProgress();
    announce($('compare-grid').querySelector('.compare-summary')?.textContent ?? '');
    $('compare-section').scrollIntoView({ behavior: 'smooth', block: 'start' });
    if (focused && document.activeElement === document.body) $('compare-section').focus({ preventScroll: true });
  } catch (e) {
    if (!stale()) failed(e);
  } finally {
    $('compare').disabled = false;
  }
}

const LANG_COLORS = { eng: '#8e44ad', man: '#c0392b', mix: '#16a085', none: '#7f8c8d' };

// The model's song mean on the shared plane: colour = language, circle = SCAE, square =
// CPC, filled = Full, hollow = Feat. Ext.
function compareMark(entry, p) {
  const v = entry.variant;
  const x = px(p.valence);
  const y = py(p.arousal);
  const color = LANG_COLORS[v.languageKey] || '#555';
  const hollow = v.modeKey !== 'full';
  const common = { fill: hollow ? 'white' : color, stroke: color, 'stroke-width': 2.5 };
  const mark = v.methodKey === 'cpc'
    ? svg('rect', { x: x - 6, y: y - 6, width: 12, height: 12, ...common })
    : svg('circle', { cx: x, cy: y, r: 7, ...common });
  mark.append(svg('title', {}, `${entry.title || entry.file}: ${p.quadrant}`));
  return mark;
}

// The answer's cells: the quadrant as a chip, the probabilities as a stacked bar, P(A+), P(V+).
function answerCells(p) {
  const q = quad(p.quadrant);
  const chipCell = el('td');
  const chip = el('span', { class: 'chip small' }, q.name);
  chip.style.background = q.color;
  chipCell.append(chip, document.createTextNode(` ${q.words.split(' / ')[0]}`));
  chipCell.title = q.words;
  const barCell = el('td');
  const words = p.probabilities.map((x, i) => `${QUADS[i].name} ${pct(x)}`).join(', ');
  const stack = el('span', { class: 'stack', title: words, role: 'img', 'aria-label': words });
  p.probabilities.forEach((x, i) => {
    const part = el('span');
    part.style.width = `${x * 100}%`;
    part.style.background = QUADS[i].color;
    stack.append(part);
  });
  barCell.append(stack);
  return [chipCell, barCell, el('td', { class: 'num' }, pct(p.arousal)), el('td', { class: 'num' }, pct(p.valence))];
}

function compareRow(entry, r) {
  const v = entry.variant;
  const tr = el('tr');
  const name = el('td', { title: entry.file });
  name.append(el('div', {}, `${v.method} · ${v.mode}`), el('div', { class: 'file' }, v.methodKey === 'none' ? entry.file : v.language));
  const sc = testScores(entry);
  tr.append(name, el('td', { class: 'num' }, sc ? f2(sc.patch[0]) : '–'));
  if (!r || r.error) tr.append(el('td', { colspan: 4, class: r ? 'failed' : 'pending', title: r ? r.error : '' }, r ? 'cannot be used (damaged file)' : 'waiting…'));
  else tr.append(...answerCells(r.prediction));
  return tr;
}

function compareHead() {
  const head = el('tr');
  for (const h of ['Model (pretraining speech)', 'Test F1', 'Heard as', 'Q1 · Q2 · Q3 · Q4', 'P(A+)', 'P(V+)']) head.append(el('th', {}, h));
  const thead = el('thead');
  thead.append(head);
  return thead;
}

function drawCompare(usable) {
  const grid = $('compare-grid');
  grid.replaceChildren();
  const table = el('table');
  table.append(compareHead());
  const body = el('tbody');
  const plane = $('compare-plane');
  planeFrame(plane);
  const counts = {};
  for (const entry of usable) {
    const r = state.results.get(entry.file);
    body.append(compareRow(entry, r));
    if (!r || r.error) continue;
    const p = r.prediction;
    counts[p.quadrant] = (counts[p.quadrant] || 0) + 1;
    plane.append(compareMark(entry, p));
  }
  table.append(body);
  const done = usable.filter((e) => state.results.has(e.file) && !state.results.get(e.file).error).length;
  const top = Object.entries(counts).sort((a, b) => b[1] - a[1])[0];
  const summaryText = top ? `${top[1]} of ${done} models hear ${top[0]} (${quad(top[0]).words}).` : '';
  const summary = el('p', { class: 'compare-summary' }, summaryText);
  plane.setAttribute('aria-label', `Each model's song mean on the arousal-valence plane${summaryText ? `: ${summaryText}` : ''}`);
  const legend = el('p', { class: 'compare-legend' },
    'On the plane: colour = speech language (purple English, red Mandarin, green both, grey none); circle = SCAE, square = CPC; filled = Full, hollow = Feat. Ext.');
  grid.append(summary, table, legend);
}
