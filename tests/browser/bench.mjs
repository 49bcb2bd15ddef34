// Drop-to-result time of a 4-minute song per backend, in headless Chromium (run by
// tests/browser/run.sh with MER_WEB_BENCH=1). The song: the music fixture looped to 4
// minutes, written as a 44.1 kHz stereo 16-bit WAV (the usual CD format), so the browser
// decodes and resamples it like a real file. Prints a Markdown table; writes
// tests/out/bench.json. MER_WEB_BENCH_BACKENDS=cpu (a comma-separated list) times only those.
import { readFileSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { analyse, FIXTURES, hasWebGpu, launch, open, OUT_DIR, BASE_URL, WORK_DIR } from './lib.mjs';

function fourMinuteSong(file) {
  const wav = readFileSync(path.join(FIXTURES, 'music.wav'));
  const dataAt = wav.indexOf('data') + 8;
  const src = new Float32Array(wav.buffer.slice(wav.byteOffset + dataAt, wav.byteOffset + wav.length - ((wav.length - dataAt) % 4)));
  const rate = 44100;
  const n = rate * 240;
  const b = Buffer.alloc(44 + n * 4);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + n * 4, 4);
  b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(2, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 4, 28);
  b.writeUInt16LE(4, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36);
  b.writeUInt32LE(n * 4, 40);
  for (let i = 0; i < n; i++) {
    const pos = ((i * 16000) / rate) % src.length;
    const j = Math.floor(pos);
    const x = src[j] + (src[(j + 1) % src.length] - src[j]) * (pos - j);
    const l = Math.round(Math.max(-1, Math.min(1, x * 0.9)) * 32767);
    const r = Math.round(Math.max(-1, Math.min(1, x * 0.8)) * 32767);
    b.writeInt16LE(l, 44 + 4 * i);
    b.writeInt16LE(r, 46 + 4 * i);
  }
  writeFileSync(file, b);
  return file;
}

mkdirSync(OUT_DIR, { recursive: true });
const song = fourMinuteSong(path.join(WORK_DIR, 'four-minutes.wav'));
const wasm = statSync(path.resolve(import.meta.dirname, '../../dist/mer-web_bg.wasm')).size;
const browser = await launch();
const rows = [];
try {
  const only = process.env.MER_WEB_BENCH_BACKENDS?.split(',');
  const runs = [['cpu', '&workers=1'], ['cpu', ''], ['webgpu', '']].filter(([b]) => !only || only.includes(b));
  for (const [backend, query] of runs) {
    const page = await open(browser.context, `?backend=${backend}&model=a-seed1.mer${query}`);
    if (backend === 'webgpu' && !(await hasWebGpu(page))) {
      rows.push({ backend, note: 'no WebGPU adapter' });
      continue;
    }
    const got = await page.getAttribute('#backend', 'data-backend');
    const adapter = await page.textContent('#backend');
    const times = [];
    for (let i = 0; i < 2; i++) {
      const out = await analyse(page, song, { timeout: 1_200_000 });
      if (!out.result) throw new Error(`${backend}: ${out.error}`);
      const info = await page.textContent('#run-info');
      times.push({ ms: out.result.ms, info });
      console.error(`${backend} run ${i + 1}: ${out.result.ms} ms — ${info}`);
    }
    rows.push({ backend: got, adapter, first_ms: times[0].ms, second_ms: times[1].ms, detail: times[1].info });
    await page.close();
  }
} finally {
  await browser.close();
}
writeFileSync(path.join(OUT_DIR, 'bench.json'), JSON.stringify({ base: BASE_URL, wasm_bytes: wasm, rows }, null, 2));
console.log(`wasm: ${(wasm / 1e6).toFixed(1)} MB raw`);
console.log('| backend | first drop (s) | second drop (s) | breakdown of the second |');
console.log('|---|---|---|---|');
for (const r of rows) {
  if (r.note) console.log(`| ${r.backend} | – | – | ${r.note} |`);
  else console.log(`| ${r.adapter} | ${(r.first_ms / 1000).toFixed(1)} | ${(r.second_ms / 1000).toFixed(1)} | ${r.detail} |`);
}
