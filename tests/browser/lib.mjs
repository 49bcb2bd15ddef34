// Helpers for the browser tests: Debian's Chromium through playwright-core (never a
// downloaded browser), the page's test hooks, and the native trainer as the reference.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const BASE_URL = process.env.BASE_URL;
export const TRAINER = process.env.TRAINER;
export const MODELS = process.env.MODELS;
export const OUT_DIR = process.env.OUT_DIR || path.resolve('../out');
export const WORK_DIR = process.env.WORK_DIR || os.tmpdir();
export const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');
export const ORIGIN = BASE_URL ? new URL(BASE_URL).origin : '';

// docs/TOOLCHAIN.md, "Chromium": the flags Debian's Chromium needs here; WebGPU needs
// --enable-unsafe-webgpu (SwiftShader adapter) in headless mode.
const FLAGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-default-apps',
  '--enable-unsafe-webgpu',
  // a microphone that plays a committed music excerpt, granted without a prompt
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  `--use-file-for-fake-audio-capture=${path.join(FIXTURES, 'music.wav')}`,
];

// A fresh browser profile; every request of the context (pages and workers) is recorded.
export async function launch() {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'mer-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
    deviceScaleFactor: 1,
  });
  const requests = [];
  context.on('request', (r) => {
    requests.push({ url: r.url(), method: r.method(), body: r.postDataBuffer() });
  });
  const logs = [];
  context.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  context.on('weberror', (e) => logs.push(`page error: ${e.error().message}`));
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, requests, logs, close };
}

export async function open(context, query = '') {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') console.error(`[console ${m.type()}] ${m.text()}`);
  });
  await page.goto(`${BASE_URL}${query}`);
  // the engine and the model list are ready
  await page.waitForFunction(() => {
    const b = document.querySelector('#backend');
    const m = document.querySelector('#model');
    return b.dataset.backend && !m.disabled;
  }, null, { timeout: 120_000 });
  return page;
}

const run = (page) => page.evaluate(() => Number(document.querySelector('#result').dataset.run || 0));

// Gives the page a file (through the file picker, or dropped on the page) and waits for
// the song-level result or an error message. Returns { result } or { error }.
export async function analyse(page, file, { drop = false, timeout = 300_000 } = {}) {
  const before = await run(page);
  if (drop) {
    const { readFileSync } = await import('node:fs');
    const b64 = readFileSync(file).toString('base64');
    await page.evaluate(({ b64, name }) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name));
      document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, { b64, name: path.basename(file) });
  } else {
    await page.setInputFiles('#file', file);
  }
  return waitOutcome(page, before, timeout);
}

export async function waitOutcome(page, before, timeout = 300_000) {
  const handle = await page.waitForFunction((before) => {
    const r = document.querySelector('#result');
    const m = document.querySelector('#message');
    const runNow = Number(r.dataset.run || 0);
    if (runNow <= before) return null;
    if (m.dataset.kind === 'error' && Number(m.dataset.run) === runNow) return { error: m.textContent };
    if (r.dataset.quadrant) {
      return {
        result: {
          quadrant: r.dataset.quadrant,
          backend: r.dataset.backend,
          probabilities: JSON.parse(r.dataset.probabilities),
          arousal: Number(r.dataset.arousal),
          valence: Number(r.dataset.valence),
          model: r.dataset.model,
          ms: Number(r.dataset.ms),
        },
      };
    }
    return null;
  }, before, { timeout, polling: 100 });
  return handle.jsonValue();
}

// `trainer predict` on the same file with the same model: the reference.
export function trainerPredict(model, file, device = 'cpu') {
  const out = execFileSync(TRAINER, ['predict', '--model', model, '--format', 'json', '--device', device, file], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, XDG_RUNTIME_DIR: WORK_DIR },
  });
  const [song] = JSON.parse(out);
  return {
    quadrant: song.quadrant,
    probabilities: ['Q1', 'Q2', 'Q3', 'Q4'].map((q) => song.probabilities[q]),
    arousal: song.arousal,
    valence: song.valence,
    segments: song.segments.length,
    // one row per patch, in the columns of the page's exports
    rows: song.segments.map((x) => [x.start, x.end, x.quadrant, ...['Q1', 'Q2', 'Q3', 'Q4'].map((q) => x.probabilities[q]), x.arousal, x.valence]),
  };
}

export function maxDiff(a, b) {
  const pa = [...a.probabilities, a.arousal, a.valence];
  const pb = [...b.probabilities, b.arousal, b.valence];
  return Math.max(...pa.map((x, i) => Math.abs(x - pb[i])));
}

// A PCM WAV (16 or 8 bits) of mono samples.
export function writeWav(file, samples, rate, bits = 16) {
  const n = samples.length;
  const width = bits / 8;
  const b = Buffer.alloc(44 + width * n);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + width * n, 4);
  b.write('WAVE', 8);
  b.write('fmt ', 12);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * width, 28);
  b.writeUInt16LE(width, 32);
  b.writeUInt16LE(bits, 34);
  b.write('data', 36);
  b.writeUInt32LE(width * n, 40);
  for (let i = 0; i < n; i++) {
    const x = Math.max(-1, Math.min(1, samples[i]));
    if (bits === 8) b.writeUInt8(Math.round(128 + x * 127), 44 + i);
    else b.writeInt16LE(Math.round(x * 32767), 44 + 2 * i);
  }
  writeFileSync(file, b);
  return file;
}

export async function hasWebGpu(page) {
  return page.evaluate(async () => !!(navigator.gpu && (await navigator.gpu.requestAdapter())));
}
