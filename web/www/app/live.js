// Live listening: what the microphone hears, through the same Rust pipeline as a song. An
// AudioWorklet (mic-worklet.js) hands over the samples, and about once a second the last
// few seconds go to the primary worker as a short "song" (setSong: mono, normalised,
// resampled, log-mel patches), run through the current model; the plane shows the answers
// as a moving point with its recent path. The sound stays in this page.
import { cancelRunning } from './analysis.js';
import { $, clearMessage, hideProgress, showMessage } from './dom.js';
import { drawPlane } from './draw.js';
import { ensureModel, modelIdOf } from './model-cache.js';
import { quad } from './quadrants.js';
import { resetResult, sayResult, showAnswer } from './result.js';
import { Cancelled, currentModel, Refused, state } from './state.js';

const LIVE_SECONDS = 4; // the rolling window
const LIVE_EVERY_MS = 1000;
const LIVE_HISTORY = 60; // points of the path on the plane
const LIVE_SAY_MS = 10_000; // a screen reader hears a new quadrant at most this often

async function openMicrophone() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Refused('This browser gives the page no access to a microphone.');
  }
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
  } catch (e) {
    throw new Refused(`The microphone could not be opened (${e.name === 'NotAllowedError' ? 'permission was refused' : e.message}).`);
  }
}

// Taps the stream (muted) and keeps its last LIVE_SECONDS in a rolling window.
function tapInto(context, stream, entry, gen) {
  const source = context.createMediaStreamSource(stream);
  const tap = new AudioWorkletNode(context, 'mer-tap', { numberOfInputs: 1, numberOfOutputs: 1 });
  const mute = context.createGain();
  mute.gain.value = 0;
  source.connect(tap).connect(mute).connect(context.destination);
  const rate = context.sampleRate;
  const mic = {
    stream, context, rate, entry, gen,
    samples: new Float32Array(Math.round(LIVE_SECONDS * rate)),
    filled: 0, busy: false, history: [], t0: performance.now(), updates: 0, said: null, saidAt: -Infinity,
  };
  tap.port.onmessage = (m) => {
    const chunk = m.data;
    const keep = mic.samples.length - chunk.length;
    mic.samples.copyWithin(0, chunk.length);
    mic.samples.set(chunk, keep);
    mic.filled = Math.min(mic.samples.length, mic.filled + chunk.length);
  };
  return mic;
}

function showListening(button) {
  $('audio').removeAttribute('src');
  resetResult('Microphone');
  $('verdict-words').textContent = 'Listening…';
  $('verdict-sub').textContent = 'The point moves about once a second with what the microphone hears.';
  $('result').dataset.source = 'microphone';
  button.textContent = 'Stop listening';
  button.setAttribute('aria-pressed', 'true');
}

export async function startListening() {
  const entry = currentModel();
  if (!entry || !entry.usable) {
    showMessage('Choose a usable model first.');
    return;
  }
  const gen = ++state.generation;
  state.batch++;
  await cancelRunning();
  clearMessage();
  const button = $('listen');
  // the button is disabled while the microphone opens (which takes the focus away): the
  // focus comes back to it
  const focused = document.activeElement === button;
  button.disabled = true;
  let stream = null;
  let context = null;
  try {
    stream = await openMicrophone();
    if (gen !== state.generation) throw new Cancelled('cancelled');
    context = new AudioContext();
    await context.audioWorklet.addModule('./mic-worklet.js');
    await ensureModel(entry, 'Listening');
    if (gen !== state.generation) throw new Cancelled('cancelled');
    hideProgress();
    const mic = tapInto(context, stream, entry, gen);
    mic.timer = setInterval(() => listenOnce(mic), LIVE_EVERY_MS);
    state.mic = mic;
    state.song = null;
    state.songInWorker = false;
    showListening(button);
  } catch (e) {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (context) context.close().catch(() => {});
    hideProgress();
    if (!(e instanceof Cancelled)) showMessage(e instanceof Refused ? e.message : `Listening failed: ${e.message}`);
  } finally {
    button.disabled = false;
    if (focused) button.focus();
  }
}

// One answer for the last LIVE_SECONDS of sound.
async function listenOnce(mic) {
  if (mic.busy || state.mic !== mic) return;
  const minimum = Math.ceil(1.05 * mic.rate); // a little over one patch
  if (mic.filled < minimum) return;
  mic.busy = true;
  try {
    const window = mic.samples.slice(mic.samples.length - mic.filled);
    const info = await state.engine.call('setSong', { channels: [window], sampleRate: mic.rate }, [window.buffer]);
    // the workers' song is the microphone's now
    state.engine.song = 0;
    if (state.mic !== mic) return;
    const probs = await state.engine.call('classifyRange', { start: 0, end: info.patches, modelId: modelIdOf(mic.entry) });
    const p = await state.engine.call('aggregate', { probs }, [probs.buffer]);
    if (state.mic !== mic) return;
    const t = (performance.now() - mic.t0) / 1000;
    mic.history.push({ start: t, end: t + 1, quadrant: p.quadrant, probabilities: p.probabilities, arousal: p.arousal, valence: p.valence });
    if (mic.history.length > LIVE_HISTORY) mic.history.shift();
    mic.updates++;
    renderLive(mic, p);
  } catch (e) {
    // silence, or a window the pipeline refuses: wait for the next second
    if (state.mic === mic) $('verdict-sub').textContent = `Waiting for sound (${e.message}).`;
  } finally {
    mic.busy = false;
  }
}

function renderLive(mic, p) {
  showAnswer(p, mic.entry.file, `What the microphone heard in the last ${LIVE_SECONDS} s, updated about once a second.`);
  $('run-info').textContent = `${mic.entry.title || mic.entry.file} · live, ${mic.updates} answer${mic.updates > 1 ? 's' : ''} so far`;
  drawPlane($('plane'), { ...p, segments: mic.history }, 'now');
  Object.assign($('result').dataset, { source: 'microphone', updates: String(mic.updates) });
  // said when the quadrant changes, not every second
  const now = performance.now();
  if (p.quadrant !== mic.said && now - mic.saidAt >= LIVE_SAY_MS) {
    mic.said = p.quadrant;
    mic.saidAt = now;
    const q = quad(p.quadrant);
    sayResult(`The microphone hears ${q.name}, ${q.words}.`);
  }
}

export async function stopListening() {
  const mic = state.mic;
  if (!mic) return;
  state.mic = null;
  clearInterval(mic.timer);
  mic.stream.getTracks().forEach((t) => t.stop());
  await mic.context.close().catch(() => {});
  const button = $('listen');
  button.textContent = 'Listen to the microphone';
  button.setAttribute('aria-pressed', 'false');
  delete $('result').dataset.source;
  if (mic.updates) $('verdict-sub').textContent = 'Stopped listening: the last answer stays on the plane.';
  else resetResult(null);
}
