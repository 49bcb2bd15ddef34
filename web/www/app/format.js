// Numbers and durations in words, as the page writes them.

export const pct = (p) => `${(p * 100).toFixed(1)} %`;
export const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
// six decimals: the exports' precision
export const round = (x) => Math.round(x * 1e6) / 1e6;
// an F1 score as ".52"
export const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2).replace(/^0/, '') : '–');

// "3:07"
export function clock(s) {
  if (!Number.isFinite(s)) return '0:00';
  const m = Math.floor(s / 60);
  const sec = Math.floor(s % 60);
  return `${m}:${String(sec).padStart(2, '0')}`;
}

// "12.5 s", "4 min 03 s", "1 h 05 min"
export function durationWords(s) {
  if (s < 60) return `${s.toFixed(1)} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h ${String(m).padStart(2, '0')} min` : `${m} min ${String(Math.round(s % 60)).padStart(2, '0')} s`;
}
