// Files in: picked or dropped files (a dropped folder gives its audio files), analysed one
// after another, each finished song added to the songs table. A new pick or drop replaces
// the files still waiting. At the end, the files that could not be analysed are named.
import { handleFile } from './analysis.js';
import { $, showMessage } from './dom.js';
import { state } from './state.js';

const MAX_FILES = 500;
const AUDIO_FILE = /\.(mp3|m4a|aac|mp4|ogg|oga|opus|flac|wav|wave|webm|aif|aiff)$/i;

export async function analyseFiles(files) {
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

// A dropped folder's audio files, with their paths, through the entries API.
async function audioFilesIn(entries) {
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
  for (const e of entries) if (e) await walk(e);
  return out.sort((a, b) => a.path.localeCompare(b.path)).map((x) => x.file);
}

// The files of a drop; a dropped folder gives its audio files (sorted by path), read
// through the entries API where the browser has it. Must be called in the drop handler.
function droppedFiles(dt) {
  const entries = [...(dt.items || [])].map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
  if (!entries.some((e) => e && e.isDirectory)) return Promise.resolve([...(dt.files || [])]);
  return audioFilesIn(entries);
}

// Files dropped anywhere on the page, with an overlay while they are dragged over it.
export function acceptDrops() {
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
}
