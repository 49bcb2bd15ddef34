// The analysis workers (web/www/worker.js, each with its own WebAssembly engine) and the
// page's side of their RPC. Each request names an operation of the engine by its Rust
// export's name (web/src/wasm.rs): createEngine, checkIndex, quadrants, setSong, melData,
// setMel, modelId, loadModel, classifyRange, aggregate.
//
// The pool: one primary worker computes a song's spectrogram and, on WebGPU, runs every
// patch; on the CPU, one helper worker per further core takes patches too.
import { $, showMessage } from './dom.js';
import { Cancelled, params, state } from './state.js';

export class Engine {
  constructor(backend) {
    this.backend = backend;
    this.next = 1;
    this.song = 0; // the generation of the song whose spectrogram this worker holds
    this.start();
  }

  start() {
    this.pending = new Map();
    this.worker = new Worker('./worker.js', { type: 'module' });
    this.worker.onmessage = (e) => this.onMessage(e.data);
    this.worker.onerror = (e) => {
      e.preventDefault();
      this.failAll(`the analysis worker stopped (${e.message || 'unknown error'})`);
    };
    // { backend, adapter, note, perPatch }
    this.info = this.call('createEngine', { backend: this.backend });
    this.info.catch(() => {});
  }

  failAll(message) {
    for (const p of this.pending.values()) p.reject(Object.assign(new Error(message), { fatal: true }));
    this.pending.clear();
  }

  onMessage(msg) {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.value);
    else p.reject(Object.assign(new Error(msg.error), { fatal: !!msg.fatal }));
  }

  // `transfer`: buffers moved to the worker, not copied (unusable here afterwards).
  call(op, args = {}, transfer = []) {
    const id = this.next++;
    const promise = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
    });
    this.worker.postMessage({ id, op, ...args }, transfer);
    return promise;
  }

  // A new worker (after a crash, or to give memory back).
  restart() {
    this.worker.terminate();
    this.failAll('the analysis worker was restarted');
    this.song = 0;
    this.start();
  }

  stop() {
    this.worker.terminate();
    this.failAll('the analysis worker was stopped');
  }
}

// How many workers share the CPU path's patches: one per core, up to 4 (?workers=N sets it).
function cpuWorkers() {
  const asked = Number(params.get('workers'));
  if (Number.isInteger(asked) && asked >= 1 && asked <= 16) return asked;
  return Math.max(1, Math.min(navigator.hardwareConcurrency || 2, 4));
}

// Helpers only for the CPU path (WebGPU runs every patch in the primary worker).
async function startHelpers() {
  for (const h of state.helpers) h.stop();
  state.helpers = [];
  const info = await state.engine.info;
  if (info.backend !== 'cpu') return;
  const helpers = Array.from({ length: cpuWorkers() - 1 }, () => new Engine('cpu'));
  const ok = await Promise.all(helpers.map((h) => h.info.then(() => true, () => false)));
  state.helpers = helpers.filter((h, i) => {
    if (!ok[i]) h.stop();
    return ok[i];
  });
}

export function workers() {
  return [state.engine, ...state.helpers];
}

// The workers that classify the current song: the primary one, and on the CPU the helpers
// that hold its spectrogram.
export function classifyPool(gpu) {
  if (gpu) return [state.engine];
  return [state.engine, ...state.helpers.filter((h) => h.song === state.generation)];
}

// Gives a song's spectrogram (`mel`, from melData) to `targets`: each its own copy, the
// last one the original, moved. Each worker that took it is marked with `gen`.
export function sendMel(targets, mel, song, gen) {
  return Promise.all(targets.map((w, i) => {
    const data = i === targets.length - 1 ? mel : mel.slice();
    return w.call('setMel', { data, frames: song.frames, seconds: song.seconds }, [data.buffer])
      .then(() => { w.song = gen; }, () => { w.song = 0; });
  }));
}

// The primary worker's spectrogram (just computed by setSong) to the helpers.
export async function shareSong(song, gen) {
  if (!state.helpers.length) return;
  await sendMel(state.helpers, await state.engine.call('melData'), song, gen);
}

// A worker's spectrogram, or null (an error, or no answer within 5 s: a hung device).
function melOf(w) {
  const late = new Promise((resolve) => { setTimeout(resolve, 5000, null); });
  return Promise.race([w.call('melData').catch(() => null), late]);
}

// Replaces a failed WebGPU engine with CPU workers for the rest of the visit. Returns the
// song's spectrogram, taken from the old worker first (no second decode), or null.
export async function fallBackToCpu(reason) {
  state.runToken++;
  const old = state.engine;
  const mel = state.songInWorker ? await melOf(old) : null;
  old.stop();
  state.engine = new Engine('cpu');
  // the first line of the engine's error (the rest is its cause chain)
  const why = String(reason || 'unknown error').split('\n')[0];
  state.gpuFailure = `WebGPU failed during the analysis (${why}); the page uses the CPU now.`;
  state.songInWorker = false;
  await showBackend();
  return mel;
}

export async function restartEngines() {
  state.engine.restart();
  state.songInWorker = false;
  await showBackend();
}

const MIN_BATCH = 4;

// Runs the model `modelId` on patches 0..total of the song in `pool`: batches go to
// whichever worker is free. Each CPU worker has two batches queued (it never waits for the
// page between batches), and the batches shrink towards the end so that the workers
// finish together. Returns the rows (perPatch numbers per patch) in patch order.
export async function classifyPatches(pool, { total, perPatch, modelId, gpu, stopped, onProgress }) {
  const probs = new Float32Array(total * perPatch);
  const lanes = gpu ? 1 : 2;
  const biggest = gpu ? 64 : 16;
  let next = 0;
  let done = 0;
  const take = () => {
    const share = Math.ceil((total - next) / (lanes * pool.length));
    const start = next;
    next = Math.min(total, start + Math.max(MIN_BATCH, Math.min(biggest, share)));
    return [start, next];
  };
  const lane = async (w) => {
    while (next < total) {
      if (stopped()) throw new Cancelled('cancelled');
      const [start, end] = take();
      try {
        probs.set(await w.call('classifyRange', { start, end, modelId }), start * perPatch);
      } catch (e) {
        next = total; // the other lanes stop after their batch in flight
        throw e;
      }
      done += end - start;
      onProgress(done);
    }
  };
  await Promise.all(pool.flatMap((w) => Array.from({ length: lanes }, () => lane(w))));
  return probs;
}

// The pill in the header: where the network runs.
export async function showBackend() {
  const pill = $('backend');
  pill.textContent = 'starting…';
  delete pill.dataset.backend;
  try {
    const info = await state.engine.info;
    if (info.backend === 'cpu') await startHelpers();
    const n = workers().length;
    pill.textContent = info.backend === 'webgpu'
      ? `WebGPU${info.adapter ? ` · ${info.adapter}` : ''}`
      : `CPU · WebAssembly${n > 1 ? ` × ${n} workers` : ''}`;
    pill.dataset.backend = info.backend;
    pill.title = info.note || (info.backend === 'webgpu' ? 'The network runs on your GPU through WebGPU' : 'The network runs on the CPU in WebAssembly');
    if (state.gpuFailure && info.backend === 'cpu') {
      pill.textContent += ' (WebGPU failed)';
      pill.title = state.gpuFailure;
    }
  } catch (e) {
    pill.textContent = 'engine failed';
    showMessage(`The analysis engine could not start: ${e.message}`);
  }
}
