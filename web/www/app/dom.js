// Small DOM helpers: elements, the message line and the progress bar.
import { state } from './state.js';

export const $ = (id) => document.getElementById(id);
export const SVG = 'http://www.w3.org/2000/svg';

export function el(tag, attrs = {}, text = null) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  if (text !== null) e.textContent = text;
  return e;
}

export function svg(tag, attrs = {}, text = null) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== null) e.textContent = text;
  return e;
}

// Test hook: #message carries data-kind ("error" or "info") and data-run while shown.
export function showMessage(text, kind = 'error') {
  const m = $('message');
  m.textContent = text;
  m.dataset.kind = kind;
  m.dataset.run = String(state.generation);
  m.hidden = false;
}

export function clearMessage() {
  const m = $('message');
  m.hidden = true;
  m.textContent = '';
  delete m.dataset.kind;
}

// Says `text` through the polite live region #announce (a screen reader reads it once).
export function announce(text) {
  $('announce').textContent = text;
}

// fraction: 0..1, or null for "busy, no measure". A step is announced when it starts (no
// measure yet, or 0); its counts are not (they change many times a second).
export function setProgress(text, fraction = null) {
  $('progress').hidden = false;
  $('progress-text').textContent = text;
  const bar = $('progress-bar');
  const role = bar.parentElement;
  if (fraction === null || fraction === 0) announce(text);
  if (fraction === null) {
    bar.classList.add('indeterminate');
    bar.style.width = '30%';
    $('progress-pct').textContent = '';
    role.removeAttribute('aria-valuenow');
  } else {
    bar.classList.remove('indeterminate');
    const pct = Math.max(0, Math.min(1, fraction)) * 100;
    bar.style.width = `${pct}%`;
    $('progress-pct').textContent = `${Math.round(pct)} %`;
    role.setAttribute('aria-valuenow', String(Math.round(pct)));
  }
}

export function hideProgress() {
  $('progress').hidden = true;
}
