// Drawing: the four probabilities as bars, the arousal-valence plane with a song's
// trajectory, the timeline of its patches, the legend, and the playback on both.
import { $, el, svg } from './dom.js';
import { clock, pct } from './format.js';
import { QUADS, quad } from './quadrants.js';
import { currentPrediction, state } from './state.js';

// The four probabilities as bars (empty before a result).
export function drawProbs(p) {
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
export const px = (v) => PAD + v * SIZE;
export const py = (a) => PAD + (1 - a) * SIZE;

// The quadrants, tinted and named in their corners.
function corners(node) {
  const at = [
    { x: 200, y: PAD, anchor: 'end', dx: SIZE / 2 - 8, dy: 18 },
    { x: PAD, y: PAD, anchor: 'start', dx: 8, dy: 18 },
    { x: PAD, y: 200, anchor: 'start', dx: 8, dy: SIZE / 2 - 10 },
    { x: 200, y: 200, anchor: 'end', dx: SIZE / 2 - 8, dy: SIZE / 2 - 10 },
  ];
  QUADS.forEach((q, i) => {
    const c = at[i];
    node.append(svg('rect', { x: c.x, y: c.y, width: SIZE / 2, height: SIZE / 2, fill: q.color, 'fill-opacity': 0.1 }));
    node.append(svg('text', { x: c.x + c.dx, y: c.y + c.dy, 'text-anchor': c.anchor, class: 'q-label', fill: q.color }, `${q.name} ${q.words}`));
  });
}

// The axes and their words.
function axes(node) {
  node.append(svg('rect', { x: PAD, y: PAD, width: SIZE, height: SIZE, class: 'plane-border' }));
  node.append(svg('line', { x1: PAD, y1: 200, x2: PAD + SIZE, y2: 200, class: 'axis' }));
  node.append(svg('line', { x1: 200, y1: PAD, x2: 200, y2: PAD + SIZE, class: 'axis' }));
  node.append(svg('text', { x: 200, y: 400 - 12, 'text-anchor': 'middle', class: 'axis-label' }, 'valence →'));
  node.append(svg('text', { x: PAD, y: 400 - 12, 'text-anchor': 'start', class: 'axis-end' }, 'negative'));
  node.append(svg('text', { x: PAD + SIZE, y: 400 - 12, 'text-anchor': 'end', class: 'axis-end' }, 'positive'));
  const vertical = (y, anchor, cls, text) => svg('text', { x: 0, y: 0, 'text-anchor': anchor, class: cls, transform: `translate(16 ${y}) rotate(-90)` }, text);
  node.append(vertical(200, 'middle', 'axis-label', 'arousal →'));
  node.append(vertical(PAD + SIZE, 'start', 'axis-end', 'calm'));
  node.append(vertical(PAD, 'end', 'axis-end', 'energetic'));
}

// An empty plane.
export function planeFrame(node) {
  node.replaceChildren();
  corners(node);
  axes(node);
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

// The share of each quadrant among the patches, in words: "40 % Q1, 30 % Q2, …" (most first).
export function quadrantShares(segments) {
  const n = (name) => segments.filter((s) => s.quadrant === name).length;
  return QUADS.map((q) => [q.name, n(q.name)]).filter(([, k]) => k > 0).sort((a, b) => b[1] - a[1])
    .map(([name, k]) => `${Math.round((100 * k) / segments.length)} % ${name}`).join(', ');
}

// A quadrant in words: "Q1 (happy / excited)".
const quadWords = (name) => `${name} (${quad(name).words})`;

// What the plane shows, for a screen reader (the drawing's text alternative).
function planeWords(p, label) {
  const segs = p.segments;
  const path = segs.length > 1 ? `; the path goes from ${quadWords(segs[0].quadrant)} to ${quadWords(segs.at(-1).quadrant)}` : '';
  return `Arousal-valence plane, ${label}: ${quadWords(p.quadrant)}, P(arousal +) ${pct(p.arousal)}, ` +
    `P(valence +) ${pct(p.valence)}; ${segs.length} point${segs.length > 1 ? 's' : ''}: ${quadrantShares(segs)}${path}.`;
}

// The patches as dots, their smoothed path, and the mean labelled `label`.
export function drawPlane(node, p, label = 'song mean') {
  planeFrame(node);
  if (!p) {
    node.append(svg('text', { x: 200, y: 206, 'text-anchor': 'middle', class: 'plane-empty' }, 'the song will appear here'));
    node.setAttribute('aria-label', 'Arousal-valence plane, empty: the song will appear here');
    return;
  }
  node.setAttribute('aria-label', planeWords(p, label));
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
  node.append(svg('circle', { id: 'now-dot', r: 6, cx: -20, cy: -20, class: 'now-dot' }));
}

function songDuration() {
  const a = $('audio');
  if (Number.isFinite(a.duration) && a.duration > 0) return a.duration;
  return state.song ? state.song.seconds : 0;
}

// The length of the timeline: the audio's, or the patches' if they reach further.
export const timelineSeconds = (p) => Math.max(songDuration(), p.segments.at(-1).end);

// What the timeline shows, for a screen reader.
function timelineWords(p, total) {
  const segs = p.segments;
  let changes = 0;
  for (let i = 1; i < segs.length; i++) if (segs[i].quadrant !== segs[i - 1].quadrant) changes++;
  return `Timeline of the song (${clock(total)}), its moments by quadrant: the song is ${quadWords(p.quadrant)}; ` +
    `its moments are ${quadrantShares(segs)}; it starts in ${segs[0].quadrant}, ends in ${segs.at(-1).quadrant} ` +
    `and changes quadrant ${changes} time${changes === 1 ? '' : 's'}.`;
}

// The patches along the song, coloured by quadrant, with a time axis.
export function drawTimeline(p) {
  const node = $('timeline-svg');
  node.replaceChildren();
  const axis = $('timeline-axis');
  axis.replaceChildren();
  $('timeline').classList.toggle('empty', !p);
  if (!p) {
    node.setAttribute('aria-label', "Timeline of the song's moments by quadrant (empty)");
    $('playhead').hidden = true;
    return;
  }
  const total = timelineSeconds(p);
  node.setAttribute('aria-label', timelineWords(p, total));
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
  syncPlayback();
}

export function drawLegend() {
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
export function syncPlayback() {
  const a = $('audio');
  const p = currentPrediction();
  const total = p ? timelineSeconds(p) : songDuration();
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
  // the playhead is a slider too (app.js: the arrow keys seek)
  head.setAttribute('aria-valuemax', String(Math.round(total)));
  head.setAttribute('aria-valuenow', String(Math.round(a.currentTime)));
  head.setAttribute('aria-valuetext', `${clock(a.currentTime)} of ${clock(total)}: ${quadWords(s.quadrant)}`);
  const dot = document.getElementById('now-dot');
  if (dot) {
    const show = a.currentTime > 0 || !a.paused;
    dot.setAttribute('cx', show ? px(s.valence) : -20);
    dot.setAttribute('cy', show ? py(s.arousal) : -20);
    dot.setAttribute('fill', quad(s.quadrant).color);
  }
}

let raf = 0;
function animate() {
  syncPlayback();
  if (!$('audio').paused) raf = requestAnimationFrame(animate);
}

// Follows playback frame by frame while the audio plays.
export function followPlayback() {
  cancelAnimationFrame(raf);
  raf = requestAnimationFrame(animate);
}
