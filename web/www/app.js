// The page's entry: starts the engine, wires the DOM to the modules in app/ and loads the
// list of models. Everything heavy runs in worker.js (one WebAssembly engine per worker).
//   app/engine.js       the workers and their RPC; the CPU pool and its batches
//   app/models.js       models/index.json, the picker, the chosen model's description
//   app/model-cache.js  model files: the Cache API, loading them into the workers
//   app/analysis.js     a song: checks, decoding, spectrogram, classification, answer
//   app/intake.js       picked and dropped files (and folders), one after another
//   app/result.js       the result card and its test hooks; app/draw.js its drawings
//   app/songs.js        the table of the songs analysed; app/exports.js CSV/JSON/PNG
//   app/compare.js      every model on the song; app/live.js the microphone
//   app/offline.js      the service worker (sw.js); app/quadrants.js Q1..Q4 from Rust
//   app/state.js, app/dom.js, app/format.js   shared state, DOM helpers, number words
import { analyseWith, failed, handleFile, cancelRunning } from './app/analysis.js';
import { compareAll } from './app/compare.js';
import { $, clearMessage, showMessage } from './app/dom.js';
import { drawLegend, drawPlane, drawProbs, drawTimeline, followPlayback, syncPlayback, timelineSeconds } from './app/draw.js';
import { Engine, showBackend } from './app/engine.js';
import { exportCsv, exportJson, exportPng } from './app/exports.js';
import { acceptDrops, analyseFiles } from './app/intake.js';
import { startListening, stopListening } from './app/live.js';
import { loadModels, showModelInfo } from './app/models.js';
import { forgetOffline, keepOffline } from './app/offline.js';
import { loadQuadrants } from './app/quadrants.js';
import { resetResult } from './app/result.js';
import { songsCsv, sortSongsBy } from './app/songs.js';
import { currentModel, currentPrediction, params, state } from './app/state.js';

function wireFiles() {
  $('file').addEventListener('change', (e) => {
    const files = [...e.target.files];
    e.target.value = '';
    analyseFiles(files);
  });
  acceptDrops();
}

// A button's action; a failure becomes a message ("`what`: why"), not a silent page.
function onClick(id, what, action) {
  $(id).addEventListener('click', async () => {
    try {
      await action();
    } catch (e) {
      showMessage(`${what}: ${e && e.message ? e.message : e}`);
    }
  });
}

function wireButtons() {
  onClick('songs-csv', 'The table could not be downloaded', songsCsv);
  onClick('forget-offline', 'The offline copy could not be removed', forgetOffline);
  $('listen').addEventListener('click', () => (state.mic ? stopListening() : startListening()));
  for (const th of $('songs').tHead.rows[0].cells) {
    th.querySelector('button').addEventListener('click', () => sortSongsBy(th.dataset.key));
  }
  onClick('export-csv', 'The CSV file could not be made', exportCsv);
  onClick('export-json', 'The JSON file could not be made', exportJson);
  onClick('export-png', 'The image could not be made', exportPng);
  $('compare').addEventListener('click', compareAll);
}

// Another model chosen: listening goes on with it, a song is analysed with it.
async function modelChanged() {
  showModelInfo();
  if (state.mic) {
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
}

// The audio player, the timeline (click: play from there) and the point on the plane.
function wirePlayback() {
  const audio = $('audio');
  audio.addEventListener('play', followPlayback);
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
    audio.currentTime = frac * timelineSeconds(p);
    syncPlayback();
    audio.play().catch(() => {});
  });
  // the playhead is a slider: the arrow keys (5 s), Page Up/Down (30 s), Home and End move
  // it; Enter or Space plays from there or pauses
  $('playhead').addEventListener('keydown', (e) => {
    const p = currentPrediction();
    if (!p) return;
    const total = timelineSeconds(p);
    const step = { ArrowRight: 5, ArrowUp: 5, ArrowLeft: -5, ArrowDown: -5, PageUp: 30, PageDown: -30 }[e.key];
    if (e.key === 'Enter' || e.key === ' ') {
      if (audio.paused) audio.play().catch(() => {});
      else audio.pause();
    } else if (step || e.key === 'Home' || e.key === 'End') {
      const to = e.key === 'Home' ? 0 : e.key === 'End' ? total : audio.currentTime + step;
      audio.currentTime = Math.max(0, Math.min(total, to));
      syncPlayback();
    } else {
      return;
    }
    e.preventDefault();
  });
}

// The quadrants' words come from the engine: the legend, and the empty plane and bars
// unless a result is shown already.
async function showQuadrants() {
  await loadQuadrants(state.engine);
  drawLegend();
  if ($('result').dataset.quadrant) return;
  drawPlane($('plane'), null);
  drawProbs(null);
}

function main() {
  const backend = ['cpu', 'webgpu', 'auto'].includes(params.get('backend')) ? params.get('backend') : 'auto';
  state.engine = new Engine(backend);
  wireFiles();
  wireButtons();
  $('model').addEventListener('change', modelChanged);
  wirePlayback();
  resetResult(null);
  showQuadrants().catch(() => {});
  showBackend();
  state.modelsLoaded = loadModels().catch(() => {});
  keepOffline();
}

main();
