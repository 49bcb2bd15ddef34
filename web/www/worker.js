// The analysis worker: owns the WebAssembly engine (web/src/wasm.rs) so the page never
// freezes. Requests come as {id, op, ...}; every request gets one reply {id, ok, value} or
// {id, ok: false, error, fatal}; a running classification also sends {id, progress}.
import init, { createEngine, checkIndex } from './mer-web.js';

const ready = init();
let engine = null;
const cancelled = new Set();
const BATCH = 64;

function reply(id, value, transfer = []) {
  postMessage({ id, ok: true, value }, transfer);
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

const ops = {
  // backend: "auto" (WebGPU when an adapter exists, else CPU), "webgpu" or "cpu".
  async init({ backend }) {
    await ready;
    let note = '';
    let adapter = '';
    if (backend !== 'cpu') {
      const a = await gpuAdapter();
      if (a) {
        adapter = adapterWords(a);
        try {
          engine = await createEngine(true);
        } catch (e) {
          note = `WebGPU could not start (${e.message || e}); using the CPU.`;
        }
      } else {
        note = 'This browser offers no WebGPU adapter; using the CPU.';
      }
    }
    if (!engine) engine = await createEngine(false);
    return { backend: engine.backend, adapter: engine.backend === 'webgpu' ? adapter : '', note };
  },

  async checkIndex({ json }) {
    await ready;
    return JSON.parse(checkIndex(json));
  },

  async song({ channels, sampleRate }) {
    return JSON.parse(engine.setSong(channels, sampleRate));
  },

  async model({ modelId, bytes }) {
    if (engine.modelId === modelId && !bytes) return { cached: true };
    if (!bytes) return { needBytes: true };
    return { meta: JSON.parse(engine.loadModel(modelId, new Uint8Array(bytes))) };
  },

  async classify({ id }) {
    const t0 = performance.now();
    const progress = (done, total) => {
      postMessage({ id, progress: { done, total } });
      // Yield to the event loop so that a cancel request can arrive.
      return new Promise((resolve) => setTimeout(() => resolve(!cancelled.has(id)), 0));
    };
    try {
      const json = await engine.classify(BATCH, progress);
      return { prediction: JSON.parse(json), ms: performance.now() - t0 };
    } finally {
      cancelled.delete(id);
    }
  },

  async clearSong() {
    if (engine) engine.clearSong();
    return true;
  },
};

onmessage = async (event) => {
  const msg = event.data;
  if (msg.op === 'cancel') {
    cancelled.add(msg.target);
    return;
  }
  const op = ops[msg.op];
  if (!op) return fail(msg.id, new Error(`unknown request ${msg.op}`));
  try {
    reply(msg.id, await op(msg));
  } catch (e) {
    fail(msg.id, e);
  }
};
