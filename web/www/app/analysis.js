// The analysis of a song: the file is checked and decoded here (Web Audio only exists on
// the main thread), its channels move to the primary worker, which computes the log-mel
// spectrogram (setSong) and shares it with the helpers; then the chosen model runs on
// every patch (classifyRange, spread over the workers) and the patches' rows become the
// song's answer (aggregate).
import { $, clearMessage, hideProgress, setProgress, showMessage } from './dom.js';
import {
  classifyPatches, classifyPool, fallBackToCpu, restartEngines, sendMel, shareSong, workers,
} from './engine.js';
import { durationWords, mb } from './format.js';
import { stopListening } from './live.js';
import { ensureModel, modelIdOf } from './model-cache.js';
import { focusResult, renderResult, resetResult } from './result.js';
import { inLibrary, recordSong } from './songs.js';
import { Cancelled, currentModel, currentPrediction, Refused, state } from './state.js';

// Limits, mirrored from web/src/pipeline.rs (the worker checks them again).
const MAX_SECONDS = 30 * 60;
const MAX_BYTES = 1024 * 1024 * 1024;
const RATE = 16000;

// The duration from the file's header via the audio element (cheap), so that hours-long
// files are refused before they are decoded into memory.
function probeDuration(audio, url) {
  return new Promise((resolve) => {
    const done = (d) => {
      audio.removeEventListener('loadedmetadata', ok);
      audio.removeEventListener('error', bad);
      clearTimeout(timer);
      resolve(d);
    };
    const ok = () => done(audio.duration);
    const bad = () => done(NaN);
    const timer = setTimeout(() => done(NaN), 4000);
    audio.addEventListener('loadedmetadata', ok);
    audio.addEventListener('error', bad);
    audio.src = url;
  });
}

async function decode(file) {
  const data = await file.arrayBuffer();
  // Decoding in a 16 kHz context makes the browser resample to the recipe's rate (a 16 kHz
  // file is left as it is); mono and normalisation happen in the worker, in Rust.
  const ctx = new OfflineAudioContext(1, 1, RATE);
  try {
    return await ctx.decodeAudioData(data);
  } catch {
    throw new Refused(
      `“${file.name}” could not be decoded as audio: it is not an audio file, or it is damaged, or this browser cannot read its format. Try MP3, AAC/M4A, OGG, Opus, FLAC or WAV.`,
    );
  }
}

const tooLong = (file, seconds) =>
  `“${file.name}” is ${durationWords(seconds)} long; the page analyses songs of up to 30 minutes`;

// Refuses an empty or too large file.
function checkSize(file) {
  if (file.size === 0) throw new Refused(`“${file.name}” is empty.`);
  if (file.size > MAX_BYTES) {
    throw new Refused(`“${file.name}” is ${mb(file.size)}; the page analyses files of up to 1 GB (songs of up to 30 minutes).`);
  }
}

// Refuses a file whose header says it is too long.
async function checkDuration(file, url, stale) {
  setProgress(`Reading ${file.name}…`, null);
  const probed = await probeDuration($('audio'), url);
  if (stale()) throw new Cancelled('cancelled');
  if (Number.isFinite(probed) && probed > MAX_SECONDS) {
    throw new Refused(
      `${tooLong(file, probed)} (longer recordings would need gigabytes of memory in the browser). Cut the part you want with an audio editor and drop that.`,
    );
  }
}

// The decoded channels, moved out of the AudioBuffer (the buffer is unusable afterwards).
async function decodeChannels(file, stale) {
  setProgress(`Decoding ${file.name}…`, null);
  const buffer = await decode(file);
  if (stale()) throw new Cancelled('cancelled');
  if (buffer.duration > MAX_SECONDS) throw new Refused(`${tooLong(file, buffer.duration)}.`);
  const channels = [];
  for (let c = 0; c < buffer.numberOfChannels; c++) channels.push(buffer.getChannelData(c));
  return { channels, sampleRate: buffer.sampleRate };
}

// The song's spectrogram in every worker. Returns { seconds, patches, frames }.
async function sendSong({ channels, sampleRate }, gen, stale) {
  setProgress('Computing log-mel patches…', null);
  const info = await state.engine.call('setSong', { channels, sampleRate }, channels.map((c) => c.buffer));
  if (stale()) throw new Cancelled('cancelled');
  state.engine.song = gen;
  // the helpers classify from the same spectrogram
  await shareSong(info, gen);
  if (stale()) throw new Cancelled('cancelled');
  return info;
}

// Frees what the previous song held before a new one comes.
async function dropPreviousSong() {
  if (state.song && state.song.seconds > 10 * 60) {
    // A long song grew the worker's memory (WebAssembly memory never shrinks): a fresh
    // worker gives it back. Models come back from the Cache API.
    await restartEngines();
  }
  if (state.song && state.song.url && !inLibrary(state.song)) URL.revokeObjectURL(state.song.url);
  state.song = null;
  state.songInWorker = false;
}

// Analyses one file with the chosen model. Resolves to true once its result is shown,
// false if it was refused or failed, undefined if newer work replaced it.
export async function handleFile(file) {
  if (!file) return;
  if (state.mic) await stopListening();
  const t0 = performance.now();
  const gen = ++state.generation;
  const stale = () => gen !== state.generation;
  $('result').dataset.run = String(gen);
  // the previous song's result goes at once (its test hooks with it)
  clearMessage();
  resetResult(file.name);
  // a new map: the one of the previous song stays with its row of the songs table
  state.results = new Map();
  $('compare-section').hidden = true;
  await cancelRunning();
  if (stale()) return;
  await dropPreviousSong();
  let url = null;
  try {
    checkSize(file);
    url = URL.createObjectURL(file);
    await checkDuration(file, url, stale);
    const tDecode = performance.now();
    const decoded = await decodeChannels(file, stale);
    const decodeMs = performance.now() - tDecode;
    const tFeatures = performance.now();
    const info = await sendSong(decoded, gen, stale);
    state.songInWorker = true;
    state.song = {
      name: file.name, file, url, seconds: info.seconds, patches: info.patches, frames: info.frames,
      decodeMs, featuresMs: performance.now() - tFeatures, t0,
    };
    // a song given while the page starts waits for the list of models
    await state.modelsLoaded;
    if (stale()) return;
    $('compare').disabled = !state.models.some((m) => m.usable);
    await analyseWith(currentModel(), gen, t0);
    const shown = !stale() && Boolean(currentPrediction());
    if (shown) focusResult();
    return shown;
  } catch (e) {
    if (stale()) return;
    failed(e);
    return false;
  } finally {
    // a file that did not become the song (refused, or replaced by a newer one) lets go of
    // its object URL
    if (url && !(state.song && state.song.url === url)) URL.revokeObjectURL(url);
  }
}

export async function cancelRunning() {
  state.runToken++;
  const running = state.running;
  if (running) await running.catch(() => {});
}

// Shows what went wrong (nothing for cancelled work); after a crash, renews the workers.
export function failed(e) {
  hideProgress();
  if (!state.song) {
    const audio = $('audio');
    audio.removeAttribute('src');
    audio.load();
  }
  if (e instanceof Refused) {
    showMessage(e.message);
  } else if (e instanceof Cancelled) {
    return;
  } else if (e && e.fatal) {
    showMessage(`The analysis stopped unexpectedly (${e.message}). The engine was restarted; drop the file again to retry.`);
    state.song = null;
    restartEngines();
  } else {
    showMessage(e && e.message ? e.message : String(e));
  }
  $('verdict-words').textContent = 'No result';
  $('verdict-chip').textContent = '!';
}

// Runs one model on the song; returns { prediction, ms, loadMs, workers }. The run covers
// the model's loading too, so that a new analysis waits until an older one can no longer
// load its model into the workers, and each batch names the model it must run on.
export async function classify(entry, label) {
  const token = state.runToken;
  const work = classifyWith(entry, label, token);
  state.running = work;
  try {
    return await work;
  } finally {
    if (state.running === work) state.running = null;
  }
}

async function classifyWith(entry, label, token) {
  const loadMs = await ensureModel(entry, label);
  if (token !== state.runToken) throw new Cancelled('cancelled');
  const total = state.song.patches;
  const { backend, perPatch } = await state.engine.info;
  const gpu = backend === 'webgpu';
  const pool = classifyPool(gpu);
  const t0 = performance.now();
  setProgress(`${label}: listening… (${total} patches)`, 0);
  const probs = await classifyPatches(pool, {
    total,
    perPatch,
    modelId: modelIdOf(entry),
    gpu,
    stopped: () => token !== state.runToken,
    onProgress: (done) => {
      if (token === state.runToken) setProgress(`${label}: listening… ${done} of ${total} patches`, done / total);
    },
  });
  const prediction = await state.engine.call('aggregate', { probs }, [probs.buffer]);
  return { prediction, ms: performance.now() - t0, loadMs, workers: pool.length };
}

// After WebGPU failed: the song's spectrogram (from the failed worker) goes to the CPU
// workers; true if the primary one took it.
async function resumeOnCpu(mel, gen) {
  if (!mel || !state.song) return false;
  await sendMel(workers(), mel, state.song, gen);
  state.songInWorker = state.engine.song === gen;
  return state.songInWorker;
}

function noModel() {
  hideProgress();
  showMessage(
    state.models.length === 0
      ? 'There is no model to run: no trained models are shipped with this page yet.'
      : 'Choose a usable model first.',
  );
}

// Shows `entry`'s result for the song (computing it unless it is known already).
export async function analyseWith(entry, gen = state.generation, t0 = performance.now()) {
  const stale = () => gen !== state.generation;
  if (!state.song) return;
  if (!entry) return noModel();
  const backend = (await state.engine.info).backend;
  const cached = state.results.get(entry.file);
  let result = cached && cached.prediction ? cached : null;
  if (!result) {
    let out;
    try {
      out = await classify(entry, 'Analysing');
    } catch (e) {
      // WebGPU failing after the engine started (a lost device, a driver error): the page
      // goes on with the CPU, says so, and analyses the song again there.
      if (backend !== 'webgpu' || e instanceof Refused || e instanceof Cancelled || stale()) throw e;
      const mel = await fallBackToCpu(e.message);
      if (stale()) return;
      if (await resumeOnCpu(mel, gen)) return analyseWith(entry, gen, t0);
      if (state.song) handleFile(state.song.file);
      return;
    }
    if (stale()) return;
    result = { ...out, backend, totalMs: performance.now() - t0 };
    state.results.set(entry.file, result);
  }
  hideProgress();
  renderResult(entry, result);
  recordSong(entry);
}
