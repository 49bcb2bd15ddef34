// What the page knows during a visit, shared by its modules, and its two kinds of
// expected failure.

export const params = new URLSearchParams(location.search);

export const state = {
  engine: null, // the primary worker (engine.js)
  helpers: [], // extra CPU workers
  models: [], // entries of models/index.json with .usable / .why / .version / .variant
  modelsLoaded: null, // resolves once the model list is in the picker
  generation: 0, // bumps on every new file; stale work stops at its next await
  running: null, // the classification in flight
  gpuFailure: null, // why WebGPU was given up during this visit, if it was
  runToken: 0, // bumps to stop the classification in flight
  song: null, // { name, file, seconds, patches, frames, url, decodeMs, featuresMs, t0 }
  results: new Map(), // model file -> { prediction, ms, backend }
  songInWorker: false,
  mic: null, // live listening: { stream, context, samples, timer, history, ... } while on
  batch: 0, // bumps when a new set of files replaces the one being analysed
  library: [], // the songs analysed this visit, in order: the rows of #songs
  sort: { key: null, dir: 1 }, // the table's order (null: order of analysis)
};

// A file or model the page refuses, with the message to show.
export class Refused extends Error {}

// Work given up because newer work replaced it.
export class Cancelled extends Error {}

// The model chosen in the picker (an entry of state.models), if any.
export function currentModel() {
  const i = Number(document.getElementById('model').value);
  return Number.isInteger(i) ? state.models[i] : undefined;
}

// The chosen model's prediction for the song on screen, or null.
export function currentPrediction() {
  const e = currentModel();
  const r = e && state.results.get(e.file);
  return r && r.prediction ? r.prediction : null;
}
