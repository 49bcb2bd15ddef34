// The result on screen, downloaded: one row per patch as CSV or JSON (with the model, the
// song and the song's answer), and the arousal-valence plane as a PNG.
import { $, el, SVG } from './dom.js';
import { pct, round } from './format.js';
import { QUADS, quad } from './quadrants.js';
import { currentModel, currentPrediction, state } from './state.js';

// The columns of a patch's row: its time, quadrant, the quadrants' probabilities (p_q1..),
// P(arousal +) and P(valence +).
const patchColumns = () => ['start_s', 'end_s', 'quadrant', ...QUADS.map((q) => `p_${q.name.toLowerCase()}`), 'p_arousal_pos', 'p_valence_pos'];
const patchRow = (s) => [round(s.start), round(s.end), s.quadrant, ...s.probabilities.map(round), round(s.arousal), round(s.valence)];

// The song and model of the result on screen, or null.
function shownResult() {
  const entry = currentModel();
  const p = currentPrediction();
  return entry && p && state.song ? { entry, p, song: state.song } : null;
}

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
export function downloadCsv(name, header, rows) {
  const lines = [header, ...rows].map((r) => r.join(','));
  download(name, new Blob([`${lines.join('\n')}\n`], { type: 'text/csv' }));
}

export function exportCsv() {
  const shown = shownResult();
  if (!shown) return;
  downloadCsv(exportName(shown, 'csv'), patchColumns(), shown.p.segments.map(patchRow));
}

export function exportJson() {
  const shown = shownResult();
  if (!shown) return;
  const { entry, p, song } = shown;
  const out = {
    song: { name: song.name, seconds: round(song.seconds), patches: p.segments.length },
    model: { file: entry.file, title: entry.title || entry.file, variant: entry.meta.variant, precision: entry.meta.precision },
    answer: { quadrant: p.quadrant, probabilities: p.probabilities.map(round), p_arousal_pos: round(p.arousal), p_valence_pos: round(p.valence) },
    columns: patchColumns(),
    patches: p.segments.map(patchRow),
  };
  download(exportName(shown, 'json'), new Blob([JSON.stringify(out, null, 1)], { type: 'application/json' }));
}

// The plane as drawn, its stylesheet rules inlined (an SVG drawn as an image sees no
// page CSS), as an image.
const INLINED = ['fill', 'fill-opacity', 'stroke', 'stroke-width', 'stroke-opacity', 'stroke-dasharray', 'stroke-linecap', 'stroke-linejoin', 'opacity', 'font-family', 'font-size', 'font-weight', 'text-anchor', 'dominant-baseline', 'letter-spacing', 'paint-order'];

async function planeImage() {
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
  return img;
}

// The plane on a white card with a caption, at twice the screen's resolution.
export async function exportPng() {
  const shown = shownResult();
  if (!shown) return;
  const img = await planeImage();
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
