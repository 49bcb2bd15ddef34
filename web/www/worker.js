// The analysis worker: owns the WebAssembly engine (web/src/wasm.rs) so the page never
// freezes. Requests come as {id, op, ...}; every request gets one reply {id, ok, value} or
// {id, ok: false, error, fatal}. The page decides which patches each worker classifies.
import init, { aggregate, createEngine, checkIndex, perPatch, quadrants } from './mer-web.js';

const ready = init();
let engine = null;
// The engine's start (the `createEngine` request): every other request waits for it, so
// that a song dropped while the page is still starting is analysed once the engine is there.
let started = null;

async function engineReady() {
  if (!started) throw new Error('the analysis engine was not started');
  await started;
  return engine;
}

function reply(id, value) {
  // typed arrays move to the page without a copy
  postMessage({ id, ok: true, value }, ArrayBuffer.isView(value) ? [value.buffer] : []);
}

function fail(id, e) {
  // A Rust panic surfaces as a WebAssembly.RuntimeError: the instance cannot be trusted
  // any more, so the page replaces this worker.
  const fatal = e instanceof WebAssembly.RuntimeError;
  const error = e && e.message ? e.message : String(e);
  postMessage({ id, ok: false, error, fatal });
}

async function gpuAdapter() {
  if (!('gpu' in navigator) || !navigator.gpu) return null;
  try {
    return await navigator.gpu.requestAdapter();
  } catch {
    return null;
  }
}

function adapterWords(adapter) {
  const info = adapter && adapter.info;
  if (!info) return '';
  return [info.vendor, info.architecture, info.description].filter(Boolean).join(' ');
}

// Each operation is named after the engine's export it runs (web/src/wasm.rs), and the
// page (app/engine.js) calls it by that name.
const ops = {
  // backend: "auto" (WebGPU when an adapter exists, else CPU), "webgpu" or "cpu".
  async createEngine({ backend }) {
    started = start(backend);
    return started;
  },

  // [{ why, variant }] for the models of models/index.json
  async checkIndex({ json }) {
    await ready;
    return JSON.parse(checkIndex(json));
  },

  // [{ name, words, sign }] for Q1..Q4
  async quadrants() {
    await ready;
    return JSON.parse(quadrants());
  },

  async setSong({ channels, sampleRate }) {
    return JSON.parse((await engineReady()).setSong(channels, sampleRate));
  },

  // the spectrogram, for the other workers (moved to the page, not copied)
  async melData() {
    return (await engineReady()).melData();
  },

  async setMel({ data, frames, seconds }) {
    return (await engineReady()).setMel(data, frames, seconds);
  },

  // the id of the model in memory (undefined: none)
  async modelId() {
    return (await engineReady()).modelId;
  },

  async loadModel({ modelId, bytes }) {
    return JSON.parse((await engineReady()).loadModel(modelId, new Uint8Array(bytes)));
  },

  // 8 probabilities per patch for patches start..end, by the model `modelId` only: a batch
  // never runs on another model than the one its analysis loaded
  async classifyRange({ start, end, modelId }) {
    const e = await engineReady();
    if (e.modelId !== modelId) {
      throw new Error(`this worker holds model ${e.modelId}, not ${modelId}`);
    }
    return e.classifyRange(start, end);
  },

  async aggregate({ probs }) {
    await ready;
    return JSON.parse(aggregate(probs));
  },

  async clearSong() {
    if (engine) engine.clearSong();
    return true;
  },
};

// backend: "auto" (WebGPU when an adapter exists, else CPU), "webgpu" or "cpu".
async function start(backend) {
  await ready;
  let note = '';
  let adapter = '';
  if (backend !== 'cpu') {
    const a = await gpuAdapter();
    // A fallback adapter is a GPU emulated on the CPU (SwiftShader): many times slower
    // than the CPU path itself, so "auto" only takes a real GPU.
    const fallback = a && !!((a.info && a.info.isFallbackAdapter) || a.isFallbackAdapter);
    if (a && (backend === 'webgpu' || !fallback)) {
      adapter = adapterWords(a);
      try {
        engine = await createEngine(true);
      } catch (e) {
        note = `WebGPU could not start (${e.message || e}); using the CPU.`;
      }
    } else if (a) {
      note = `The only WebGPU adapter here is a software fallback (${adapterWords(a)}), slower than the CPU path; using the CPU (?backend=webgpu forces it).`;
    } else {
      note = 'This browser offers no WebGPU adapter; using the CPU.';
    }
  }
  if (!engine) engine = await createEngine(false);
  // perPatch: the width of a patch's row of probabilities (Rust's PatchProbabilities::WIDTH)
  return { backend: engine.backend, adapter: engine.backend === 'webgpu' ? adapter : '', note, perPatch: perPatch() };
}

onmessage = async (event) => {
  const msg = event.data;
  const op = ops[msg.op];
  if (!op) return fail(msg.id, new Error(`unknown request ${msg.op}`));
  try {
    reply(msg.id, await op(msg));
  } catch (e) {
    fail(msg.id, e);
  }
};
