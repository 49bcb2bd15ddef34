// End-to-end tests of the web page (run by tests/browser/run.sh, which builds and serves it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import { spawn } from 'node:child_process';
import path from 'node:path';
import {
  analyse, FIXTURES, hasWebGpu, launch, maxDiff, MODELS, open, ORIGIN, OUT_DIR, BASE_URL,
  trainerPredict, waitOutcome, WORK_DIR, writeWav,
} from './lib.mjs';

const fixture = (name) => path.join(FIXTURES, name);
// the origins the tests serve the page from (the main server, and one without models)
const origins = new Set([ORIGIN]);
const model = (file) => path.join(MODELS, file);
let browser;

before(async () => {
  assert.ok(BASE_URL, 'BASE_URL is not set: run tests/browser/run.sh');
  mkdirSync(OUT_DIR, { recursive: true });
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
});

function checkShape(r, backend) {
  assert.match(r.quadrant, /^Q[1-4]$/);
  assert.equal(r.backend, backend);
  assert.equal(r.probabilities.length, 4);
  const sum = r.probabilities.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 1) < 1e-4, `probabilities sum to ${sum}`);
  for (const p of [...r.probabilities, r.arousal, r.valence]) assert.ok(p >= 0 && p <= 1, `${p} is not a probability`);
  assert.equal(r.quadrant, `Q${r.probabilities.indexOf(Math.max(...r.probabilities)) + 1}`);
}

// A page on the CPU path with a-seed1.mer's result for music.wav on screen.
async function openWithResult() {
  const page = await open(browser.context, '?backend=cpu&model=a-seed1.mer');
  const first = await analyse(page, fixture('music.wav'));
  assert.ok(first.result, first.error);
  return page;
}

// How far the quadrant probabilities on screen are from `trainer predict` with the model
// `file` on music.wav.
async function diffFromModel(page, file) {
  const probs = JSON.parse(await page.getAttribute('#result', 'data-probabilities'));
  const ref = trainerPredict(model(file), fixture('music.wav'));
  return Math.max(...probs.map((p, i) => Math.abs(p - ref.probabilities[i])));
}

// The option of a model file in the picker (options are in index order).
async function pickModel(page, file) {
  const index = JSON.parse(readFileSync(path.join(MODELS, 'index.json'), 'utf8'));
  const i = index.models.findIndex((m) => m.file === file);
  assert.ok(i >= 0, `${file} is not in the index`);
  await page.selectOption('#model', String(i));
}

test('CPU path: WAV (file picker) and MP3 (dropped) match `trainer predict` within 1e-3', async (t) => {
  const page = await open(browser.context, '?backend=cpu&model=a-seed1.mer');
  assert.equal(await page.getAttribute('#backend', 'data-backend'), 'cpu');
  for (const [name, drop] of [['music.wav', false], ['music.mp3', true]]) {
    const out = await analyse(page, fixture(name), { drop });
    assert.ok(out.result, `no result for ${name}: ${out.error}`);
    checkShape(out.result, 'cpu');
    assert.equal(out.result.model, 'a-seed1.mer');
    const ref = trainerPredict(model('a-seed1.mer'), fixture(name));
    const d = maxDiff(out.result, ref);
    t.diagnostic(`${name}: page ${out.result.quadrant} ${JSON.stringify(out.result.probabilities)} in ${out.result.ms} ms; trainer ${ref.quadrant}; max |diff| ${d.toExponential(2)}`);
    assert.equal(out.result.quadrant, ref.quadrant);
    assert.ok(d < 1e-3, `${name}: page and trainer differ by ${d}`);
  }
  // the timeline seeks, and the plane shows where playback is
  const box = await page.locator('#timeline').boundingBox();
  await page.locator('#timeline').click({ position: { x: box.width * 0.5, y: box.height / 2 } });
  const t1 = await page.evaluate(() => document.querySelector('#audio').currentTime);
  const total = await page.evaluate(() => document.querySelector('#audio').duration);
  assert.ok(Math.abs(t1 - total / 2) < 0.5, `clicking the middle of the timeline seeks to ${t1} of ${total} s`);
  await page.evaluate(() => document.querySelector('#audio').pause());
  const cx = Number(await page.getAttribute('#now-dot', 'cx'));
  assert.ok(cx > 0, 'the playback point is on the plane');
  await page.screenshot({ path: path.join(OUT_DIR, 'page-cpu.png'), fullPage: true });
  await page.close();
});

// A download the page starts with a click, saved under tests/out/.
async function downloadOf(page, selector) {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  const file = path.join(OUT_DIR, dl.suggestedFilename());
  await dl.saveAs(file);
  return { name: dl.suggestedFilename(), bytes: readFileSync(file) };
}

test('exports of the song on screen: CSV and JSON per patch (the CLI\'s rows), PNG of the plane', async (t) => {
  const page = await open(browser.context, '?backend=cpu&model=a-seed1.mer');
  assert.equal(await page.isDisabled('#export-csv'), true, 'nothing to export before a song');
  const out = await analyse(page, fixture('music.wav'));
  assert.ok(out.result, `no result: ${out.error}`);
  const ref = trainerPredict(model('a-seed1.mer'), fixture('music.wav'));
  const close = (row, want, what) => {
    assert.equal(row.length, want.length, what);
    row.forEach((x, i) => {
      if (typeof want[i] === 'string') assert.equal(x, want[i], `${what}, column ${i}`);
      else assert.ok(Math.abs(Number(x) - want[i]) < 1e-3, `${what}, column ${i}: ${x} vs ${want[i]}`);
    });
  };

  const csv = await downloadOf(page, '#export-csv');
  assert.equal(csv.name, 'music.a-seed1.csv');
  const lines = csv.bytes.toString('utf8').trim().split('\n');
  assert.equal(lines[0], 'start_s,end_s,quadrant,p_q1,p_q2,p_q3,p_q4,p_arousal_pos,p_valence_pos');
  assert.equal(lines.length - 1, ref.rows.length, 'one row per patch');
  lines.slice(1).forEach((l, i) => close(l.split(','), ref.rows[i], `CSV row ${i}`));

  const json = await downloadOf(page, '#export-json');
  assert.equal(json.name, 'music.a-seed1.json');
  const doc = JSON.parse(json.bytes.toString('utf8'));
  assert.equal(doc.song.name, 'music.wav');
  assert.ok(doc.song.seconds > 1);
  assert.equal(doc.model.file, 'a-seed1.mer');
  assert.ok(doc.model.variant && doc.model.precision, 'the model\'s variant and precision');
  assert.equal(doc.answer.quadrant, ref.quadrant);
  close([...doc.answer.probabilities, doc.answer.p_arousal_pos, doc.answer.p_valence_pos], [...ref.probabilities, ref.arousal, ref.valence], 'the song\'s answer');
  assert.equal(doc.patches.length, ref.rows.length);
  doc.patches.forEach((r, i) => close(r, ref.rows[i], `JSON patch ${i}`));

  const png = await downloadOf(page, '#export-png');
  assert.equal(png.name, 'music.a-seed1.png');
  assert.equal(png.bytes.subarray(1, 4).toString('latin1'), 'PNG');
  // IHDR: width and height, big-endian, at bytes 16 and 20
  assert.equal(png.bytes.readUInt32BE(16), 800);
  assert.equal(png.bytes.readUInt32BE(20), 920);
  // the plane was drawn into it, not a blank card: the PNG looks like itself in the page
  const colours = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, 800).data;
    const seen = new Set();
    for (let i = 0; i < d.length; i += 4 * 97) seen.add(`${d[i] >> 4},${d[i + 1] >> 4},${d[i + 2] >> 4}`);
    return seen.size;
  }, png.bytes.toString('base64'));
  t.diagnostic(`PNG ${png.bytes.length} bytes, ${colours} colour classes in the plane`);
  assert.ok(colours >= 4, `the plane in the PNG has ${colours} colour classes`);
  await page.close();
});

test('several songs: analysed one after another into a sortable table; a row shows its song again', async (t) => {
  const page = await open(browser.context, '?backend=cpu&model=a-seed1.mer');
  const names = ['music.wav', 'short.wav', 'music.ogg', 'noise.wav'];
  await page.setInputFiles('#file', names.map(fixture));
  await page.waitForFunction(() => {
    const rows = document.querySelectorAll('#songs tbody tr').length;
    return rows === 3 && !document.querySelector('#songs-section').dataset.pending && !document.querySelector('#message').hidden;
  }, null, { timeout: 300_000 });
  // the file that is too short is named, the others each have a row with the CLI's answer
  const message = await page.textContent('#message');
  assert.match(message, /1 of 4 files could not be analysed: short\.wav/, message);
  const good = names.filter((n) => n !== 'short.wav');
  for (const name of good) {
    const ref = trainerPredict(model('a-seed1.mer'), fixture(name));
    const row = page.locator('#songs tbody tr', { hasText: name });
    assert.equal(await row.count(), 1, `one row for ${name}`);
    assert.equal(await row.getAttribute('data-quadrant'), ref.quadrant, name);
  }
  assert.equal(await page.locator('#songs tbody tr[data-quadrant]').count(), 3);
  // sorting by P(arousal +): ascending, then descending
  const column = async (i) => page.$$eval('#songs tbody tr', (rows, i) => rows.map((r) => r.cells[i].textContent), i);
  const arousal = async () => (await column(2)).map((x) => parseFloat(x));
  await page.click('#songs th[data-key="arousal"] button');
  const up = await arousal();
  assert.deepEqual(up, [...up].sort((a, b) => a - b));
  assert.equal(await page.getAttribute('#songs th[data-key="arousal"]', 'aria-sort'), 'ascending');
  await page.click('#songs th[data-key="arousal"] button');
  const down = await arousal();
  assert.deepEqual(down, [...down].sort((a, b) => b - a));
  await page.click('#songs th[data-key="name"] button');
  assert.deepEqual(await column(0), [...good].sort());
  // a click shows that song again: its name, answer, timeline and audio
  const first = await page.textContent('#song-name');
  const other = good.find((n) => n !== first);
  const row = page.locator('#songs tbody tr', { hasText: other });
  await row.click();
  assert.equal(await page.textContent('#song-name'), other);
  assert.equal(await page.getAttribute('#result', 'data-quadrant'), await row.getAttribute('data-quadrant'));
  assert.equal(await row.getAttribute('aria-selected'), 'true');
  assert.ok(await page.locator('#timeline-svg rect').count() > 5, 'its timeline');
  assert.match(await page.getAttribute('#audio', 'src'), /^blob:/);
  // and with the keyboard
  const third = good.find((n) => n !== first && n !== other);
  await page.locator('#songs tbody tr', { hasText: third }).focus();
  await page.keyboard.press('Enter');
  assert.equal(await page.textContent('#song-name'), third);
  // the table as CSV, in the order shown
  const csv = await downloadOf(page, '#songs-csv');
  const lines = csv.bytes.toString('utf8').trim().split('\n');
  assert.equal(lines[0], 'song,quadrant,p_arousal_pos,p_valence_pos,seconds,model');
  assert.deepEqual(lines.slice(1).map((l) => JSON.parse(l.split(',')[0])), [...good].sort());
  for (const l of lines.slice(1)) assert.match(l, /,Q[1-4],[0-9.]+,[0-9.]+,[0-9.]+,"a-seed1\.mer"$/);
  // a model chosen for a song shown from the table analyses that song again, as a new row
  await pickModel(page, 'b-seed2.mer');
  await page.waitForFunction(() => document.querySelectorAll('#songs tbody tr').length === 4, null, { timeout: 120_000 });
  assert.equal(await page.textContent('#song-name'), third);
  await page.screenshot({ path: path.join(OUT_DIR, 'page-songs.png'), fullPage: true });
  await page.close();
});

test('live listening: the microphone (a fake device playing music) moves the point about once a second', async (t) => {
  const page = await open(browser.context, '?backend=cpu&model=a-seed1.mer');
  await page.waitForFunction(() => !document.querySelector('#listen').disabled, null, { timeout: 60_000 });
  await page.click('#listen');
  await page.waitForFunction(() => document.querySelector('#listen').getAttribute('aria-pressed') === 'true'
    || !document.querySelector('#message').hidden, null, { timeout: 60_000 });
  assert.equal(await page.isHidden('#message'), true, await page.textContent('#message'));
  const t0 = Date.now();
  await page.waitForSelector('#result[data-source="microphone"][data-quadrant]', { timeout: 60_000 });
  await page.waitForFunction(() => Number(document.querySelector('#result').dataset.updates) >= 4, null, { timeout: 60_000 });
  const seconds = (Date.now() - t0) / 1000;
  const r = await page.evaluate(() => ({ ...document.querySelector('#result').dataset }));
  t.diagnostic(`${r.updates} answers in ${seconds.toFixed(1)} s; last ${r.quadrant} ${r.probabilities}`);
  assert.match(r.quadrant, /^Q[1-4]$/);
  const probs = JSON.parse(r.probabilities);
  assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-4);
  assert.equal(r.model, 'a-seed1.mer');
  // the point and its recent path are on the plane
  assert.ok(await page.locator('#plane circle').count() >= 4, 'the recent answers on the plane');
  // about once a second, not faster
  assert.ok(Number(r.updates) <= seconds + 2, `${r.updates} answers in ${seconds} s`);
  await page.click('#listen');
  assert.equal(await page.getAttribute('#listen', 'aria-pressed'), 'false');
  assert.equal(await page.getAttribute('#result', 'data-source'), null, 'no longer the microphone');
  const after = await page.evaluate(() => document.querySelector('#result').dataset.updates);
  await page.waitForTimeout(2500);
  assert.equal(await page.evaluate(() => document.querySelector('#result').dataset.updates), after, 'stopped');
  // a song dropped afterwards is analysed as usual
  const out = await analyse(page, fixture('music.wav'));
  assert.ok(out.result, `no result: ${out.error}`);
  await page.screenshot({ path: path.join(OUT_DIR, 'page-listen.png'), fullPage: true });
  await page.close();
});

test('keyboard: Tab reaches the file picker (its focus shown), the model picker and every button', async () => {
  const page = await open(browser.context, '?backend=cpu&model=a-seed1.mer');
  await page.waitForFunction(() => !document.querySelector('#listen').disabled, null, { timeout: 60_000 });
  const reached = [];
  for (let i = 0; i < 12; i++) {
    await page.keyboard.press('Tab');
    reached.push(await page.evaluate(() => document.activeElement.id || document.activeElement.tagName));
  }
  for (const id of ['file', 'model', 'compare', 'listen']) assert.ok(reached.includes(id), `${id} is not reached by Tab: ${reached}`);
  assert.equal(await page.getAttribute('#file', 'multiple'), '', 'several files at once');
  // the focused picker shows its focus on the visible button
  await page.focus('#file');
  const outline = await page.$eval('label.button.primary', (l) => getComputedStyle(l).outlineStyle);
  assert.equal(outline, 'solid', 'the focus is visible');
  await page.close();
});

// The roles a screen reader user operates or reads as one thing: each must have a name.
const NAMED_ROLES = new Set(['button', 'link', 'textbox', 'checkbox', 'radio', 'combobox', 'listbox', 'slider',
  'spinbutton', 'switch', 'row', 'columnheader', 'img', 'region', 'progressbar', 'table']);

// The nodes of an aria snapshot (ariaSnapshotJSON) that have one of NAMED_ROLES, with their names.
function namedNodes(nodes, out = []) {
  for (const n of nodes || []) {
    if (n && typeof n === 'object') {
      if (NAMED_ROLES.has(n.role)) out.push({ role: n.role, name: (n.name || '').trim() });
      namedNodes(n.children, out);
    }
  }
  return out;
}

test('screen reader: every control named, the plane and timeline described, results and errors announced, the sorted column marked', async (t) => {
  const page = await open(browser.context, '?backend=cpu&model=a-seed1.mer');
  for (const name of ['music.ogg', 'music.wav']) {
    const out = await analyse(page, fixture(name));
    assert.ok(out.result, `no result for ${name}: ${out.error}`);
  }
  const quadrant = await page.getAttribute('#result', 'data-quadrant');
  // the result is said once, politely, with its quadrant; the whole card is not a live region
  // (the microphone's point moves every second)
  const status = page.locator('#result').getByRole('status');
  assert.equal(await status.count(), 1, 'one polite status line in the result');
  assert.match(await status.textContent(), new RegExp(`music\\.wav.*\\b${quadrant}\\b`));
  assert.equal(await page.getAttribute('#result', 'aria-live'), null, 'the whole result card is not live');
  // the focus went to the result, and shows
  assert.equal(await page.evaluate(() => document.activeElement.closest('#result') !== null), true, 'the focus is on the result');
  // the drawings: a text alternative that says the song's quadrant
  const plane = page.locator('#plane');
  assert.equal(await plane.getAttribute('role'), 'img');
  assert.equal(await page.getByRole('img', { name: new RegExp(`arousal.valence plane.*\\b${quadrant}\\b`, 'i') }).and(plane).count(), 1,
    `the plane's name: ${await plane.getAttribute('aria-label')}`);
  const timeline = page.locator('#timeline-svg');
  assert.equal(await page.getByRole('img', { name: new RegExp(`timeline.*\\b${quadrant}\\b`, 'i') }).and(timeline).count(), 1,
    `the timeline's name: ${await timeline.getAttribute('aria-label')}`);
  // the timeline seeks with the keyboard as it does with the mouse
  const seek = page.getByRole('slider', { name: /play/i });
  assert.equal(await seek.count(), 1, 'a slider for the play position');
  await seek.focus();
  await page.keyboard.press('ArrowRight');
  const now = await page.evaluate(() => document.querySelector('#audio').currentTime);
  assert.ok(now > 1, `ArrowRight on the timeline moves playback to ${now} s`);
  assert.match(await seek.getAttribute('aria-valuetext'), /Q[1-4]/);
  await page.evaluate(() => document.querySelector('#audio').pause());
  await page.screenshot({ path: path.join(OUT_DIR, 'page-a11y-result.png'), fullPage: true });
  // sorting: the sorted column says so
  await page.getByRole('columnheader', { name: /^Quadrant/ }).getByRole('button').click();
  assert.equal(await page.getByRole('columnheader', { name: /^Quadrant/ }).getAttribute('aria-sort'), 'ascending');
  // every control, row and drawing on screen has a name
  const nodes = namedNodes(await page.locator('body').ariaSnapshotJSON());
  const roles = new Set(nodes.map((n) => n.role));
  for (const role of ['button', 'combobox', 'row', 'columnheader', 'img', 'slider', 'region']) assert.ok(roles.has(role), `no ${role} on the page`);
  const unnamed = nodes.filter((n) => !n.name);
  t.diagnostic(`${nodes.length} named nodes: ${[...roles].join(', ')}`);
  assert.deepEqual(unnamed, [], 'nodes without an accessible name');
  // an error is an alert of one line
  const dir = path.join(WORK_DIR, 'a11y');
  mkdirSync(dir, { recursive: true });
  const text = path.join(dir, 'letter.txt');
  writeFileSync(text, 'Dear reader,\nthis is not a song.\n'.repeat(50));
  const bad = await analyse(page, text, { drop: true });
  assert.ok(bad.error, 'a text file gave a result');
  const alert = page.getByRole('alert');
  assert.equal(await alert.count(), 1, 'one alert');
  const said = (await alert.textContent()).trim();
  assert.match(said, /letter\.txt/);
  assert.ok(!said.includes('\n') && said.length < 300, `one short line: ${said}`);
  await page.screenshot({ path: path.join(OUT_DIR, 'page-a11y.png'), fullPage: true });
  await page.close();
});

test('other formats the browser decodes: OGG and FLAC', async (t) => {
  const page = await open(browser.context, '?backend=cpu&model=a-seed1.mer');
  for (const name of ['music.ogg', 'music.flac']) {
    const out = await analyse(page, fixture(name));
    assert.ok(out.result, `no result for ${name}: ${out.error}`);
    checkShape(out.result, 'cpu');
    const ref = trainerPredict(model('a-seed1.mer'), fixture(name));
    t.diagnostic(`${name}: page ${out.result.quadrant}, trainer ${ref.quadrant}, max |diff| ${maxDiff(out.result, ref).toExponential(2)}`);
    assert.equal(out.result.quadrant, ref.quadrant);
  }
  await page.close();
});

test('model picker re-runs the song; compare runs every usable model', async (t) => {
  const page = await openWithResult();
  await pickModel(page, 'b-seed2.mer');
  await page.waitForFunction(() => document.querySelector('#result').dataset.model === 'b-seed2.mer', null, { timeout: 120_000 });
  const d = await diffFromModel(page, 'b-seed2.mer');
  t.diagnostic(`b-seed2: max |diff| ${d.toExponential(2)}`);
  assert.ok(d < 1e-3);
  await page.click('#compare');
  await page.waitForFunction(() => {
    const rows = document.querySelectorAll('#compare-grid tbody tr');
    return rows.length > 0 && !document.querySelector('#compare-grid .pending') && document.querySelector('#progress').hidden;
  }, null, { timeout: 300_000 });
  const rows = await page.locator('#compare-grid tbody tr').count();
  const failedRows = await page.locator('#compare-grid td.failed').count();
  const models = JSON.parse(readFileSync(path.join(MODELS, 'index.json'), 'utf8')).models.length;
  t.diagnostic(`compare: ${rows} rows, ${failedRows} unusable`);
  // every model has a row; the damaged file is marked, the others have results
  assert.equal(rows, models);
  assert.equal(failedRows, 1);
  assert.equal(await page.locator('#compare-plane rect[stroke], #compare-plane circle[stroke]').count(), models - 1);
  await page.screenshot({ path: path.join(OUT_DIR, 'page-compare.png'), fullPage: true });
  await page.close();
});

test('a song given as soon as the page loads waits for the engine, then gets its result', async () => {
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${BASE_URL}?backend=cpu&model=a-seed1.mer`, { waitUntil: 'domcontentloaded' });
  // no waiting for the engine or the model list: the file goes in at once
  await page.setInputFiles('#file', fixture('music.wav'));
  const out = await waitOutcome(page, 0);
  assert.ok(out.result, `no result: ${out.error}`);
  checkShape(out.result, 'cpu');
  assert.equal(out.result.model, 'a-seed1.mer');
  assert.deepEqual(errors, [], 'a JavaScript error reached the page');
  assert.equal(await page.locator('#message[data-kind="error"]').count(), 0);
  await page.close();
});

test('switching the model while the first is still loading: every result is the named model\'s', async () => {
  const page = await openWithResult();
  // switch to b while b is not loaded anywhere yet, then straight back to a, and to b again
  await pickModel(page, 'b-seed2.mer');
  await pickModel(page, 'a-seed1.mer');
  await pickModel(page, 'b-seed2.mer');
  await page.waitForFunction(() => {
    const r = document.querySelector('#result');
    return r.dataset.model === 'b-seed2.mer' && document.querySelector('#progress').hidden;
  }, null, { timeout: 120_000 });
  const d = await diffFromModel(page, 'b-seed2.mer');
  assert.ok(d < 1e-3, `the result shown as b-seed2's differs from b-seed2's by ${d}`);
  await page.close();
});

test('the picker starts on index.json\'s default, unless ?model= names another', async () => {
  const index = JSON.parse(readFileSync(path.join(MODELS, 'index.json'), 'utf8'));
  assert.equal(index.default, 'd-cpc-feat-ext-mix.mer');
  const chosen = async (query) => {
    const page = await open(browser.context, query);
    await page.waitForFunction(() => !document.querySelector('#model').disabled, null, { timeout: 60_000 });
    const i = Number(await page.inputValue('#model'));
    await page.close();
    return index.models[i].file;
  };
  assert.equal(await chosen('?backend=cpu'), 'd-cpc-feat-ext-mix.mer');
  assert.equal(await chosen('?backend=cpu&model=b-seed2.mer'), 'b-seed2.mer');
  // each option says the file's size and precision
  const page = await open(browser.context, '?backend=cpu');
  await page.waitForFunction(() => !document.querySelector('#model').disabled, null, { timeout: 60_000 });
  const labels = await page.$$eval('#model option', (os) => os.map((o) => [Number(o.value), o.textContent]));
  assert.equal(labels.length, index.models.length);
  for (const [i, text] of labels) assert.ok(text.includes(`MB ${index.models[i].meta.precision}`), `${text} (${index.models[i].meta.precision})`);
  await page.close();
});

test('a damaged model file gives a clear message, and the page keeps working', async () => {
  const page = await openWithResult();
  await pickModel(page, 'z-damaged.mer');
  await page.waitForFunction(() => document.querySelector('#message').dataset.kind === 'error', null, { timeout: 120_000 });
  const text = await page.textContent('#message');
  assert.match(text, /z-damaged\.mer cannot be used: corrupted model file \(checksum mismatch\)/);
  await pickModel(page, 'a-seed1.mer');
  await page.waitForFunction(() => document.querySelector('#result').dataset.model === 'a-seed1.mer' && document.querySelector('#message').hidden, null, { timeout: 120_000 });
  await page.close();
});

test('bad input: a clear message each time, and the next good file still works', async (t) => {
  const page = await open(browser.context, '?backend=cpu&model=a-seed1.mer');
  const dir = path.join(WORK_DIR, 'bad');
  mkdirSync(dir, { recursive: true });
  const text = path.join(dir, 'notes.mp3');
  writeFileSync(text, 'These are not the sounds you are looking for.\n'.repeat(200));
  const junk = path.join(dir, 'junk.ogg');
  writeFileSync(junk, Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7919) % 251)));
  const headless = path.join(dir, 'no-header.wav');
  const wav = readFileSync(fixture('music.wav'));
  wav.fill(0, 0, 64);
  writeFileSync(headless, wav);
  const silent = writeWav(path.join(dir, 'silent.wav'), new Float32Array(16000 * 3), 16000);
  // two hours (8 kHz, 8 bits: 58 MB): refused before decoding
  const long = writeWav(path.join(dir, 'two-hours.wav'), new Float32Array(8000 * 7200).map((_, i) => 0.3 * Math.sin(i / 3)), 8000, 8);
  const cases = [
    [text, /could not be decoded as audio/],
    [junk, /could not be decoded as audio/],
    [headless, /could not be decoded as audio/],
    [fixture('short.wav'), /Too short: 0\.50 s/],
    [silent, /silent/],
    [long, /2 h 00 min long.*up to 30 minutes/],
  ];
  // count the object URLs the page holds: a refused file must not keep one
  await page.evaluate(() => {
    const live = new Set();
    window.__liveUrls = live;
    const create = URL.createObjectURL.bind(URL);
    const revoke = URL.revokeObjectURL.bind(URL);
    URL.createObjectURL = (o) => {
      const u = create(o);
      live.add(u);
      return u;
    };
    URL.revokeObjectURL = (u) => {
      live.delete(u);
      revoke(u);
    };
  });
  for (const [file, expected] of cases) {
    const out = await analyse(page, file);
    t.diagnostic(`${path.basename(file)}: ${out.error}`);
    assert.ok(out.error, `${path.basename(file)} gave a result instead of a message`);
    assert.match(out.error, expected);
    assert.equal(await page.getAttribute('#result', 'data-quadrant'), null);
  }
  assert.equal(await page.evaluate(() => window.__liveUrls.size), 0, 'refused files kept their object URLs');
  await page.screenshot({ path: path.join(OUT_DIR, 'page-error.png'), fullPage: false });
  const good = await analyse(page, fixture('music.wav'));
  assert.ok(good.result, `after the bad files: ${good.error}`);
  checkShape(good.result, 'cpu');
  await page.close();
});

test('a new file while a long one is being analysed replaces it', async () => {
  const page = await open(browser.context, '?backend=cpu&model=a-seed1.mer');
  // 3 minutes of the fixture, looped
  const wav = readFileSync(fixture('music.wav'));
  const at = wav.indexOf('data') + 8;
  const src = new Float32Array(wav.buffer.slice(wav.byteOffset + at, wav.byteOffset + wav.length));
  const long = writeWav(path.join(WORK_DIR, 'three-minutes.wav'), Float32Array.from({ length: 16000 * 180 }, (_, i) => src[i % src.length]), 16000);
  await page.setInputFiles('#file', long);
  await page.waitForFunction(() => /listening/.test(document.querySelector('#progress-text').textContent), null, { timeout: 60_000 });
  const out = await analyse(page, fixture('music.wav'));
  assert.ok(out.result, out.error);
  assert.equal(await page.textContent('#song-name'), 'music.wav');
  // the long song's result never lands after the short one's
  await page.waitForTimeout(1500);
  assert.equal(await page.textContent('#song-name'), 'music.wav');
  assert.match(await page.textContent('#run-info'), /9 patches/);
  assert.equal(await page.isHidden('#message'), true);
  await page.close();
});

test('a long song (12 minutes) is analysed whole; the workers are renewed after it', async (t) => {
  const page = await open(browser.context, '?backend=cpu&model=a-seed1.mer');
  const wav = readFileSync(fixture('music.wav'));
  const at = wav.indexOf('data') + 8;
  const src = new Float32Array(wav.buffer.slice(wav.byteOffset + at, wav.byteOffset + wav.length));
  const long = writeWav(path.join(WORK_DIR, 'twelve-minutes.wav'), Float32Array.from({ length: 16000 * 720 }, (_, i) => src[i % src.length]), 16000);
  const out = await analyse(page, long, { timeout: 600_000 });
  assert.ok(out.result, out.error);
  const info = await page.textContent('#run-info');
  t.diagnostic(info);
  assert.match(info, /12 min 00 s, 1499 patches/);
  const next = await analyse(page, fixture('music.wav'));
  assert.ok(next.result, next.error);
  assert.match(await page.textContent('#run-info'), /9 patches/);
  await page.close();
});

test('models come from the Cache API the second time', async () => {
  const count = () => browser.requests.filter((r) => r.url.includes('/models/a-seed1.mer')).length;
  const page = await open(browser.context, '?backend=cpu&model=a-seed1.mer');
  const before = count();
  assert.ok(before >= 1, 'the model was downloaded by the earlier tests');
  const out = await analyse(page, fixture('music.wav'));
  assert.ok(out.result, out.error);
  assert.equal(count(), before, 'the model file was fetched again');
  await page.close();
});

test('WebGPU path in the browser (when Chromium offers an adapter)', async (t) => {
  const probe = await browser.context.newPage();
  await probe.goto(BASE_URL);
  const gpu = await hasWebGpu(probe);
  await probe.close();
  if (!gpu) {
    t.skip('this Chromium offers no WebGPU adapter');
    return;
  }
  const page = await open(browser.context, '?backend=webgpu&model=a-seed1.mer');
  assert.equal(await page.getAttribute('#backend', 'data-backend'), 'webgpu', await page.getAttribute('#backend', 'title'));
  t.diagnostic(`adapter: ${await page.textContent('#backend')}`);
  const out = await analyse(page, fixture('music.wav'));
  assert.ok(out.result, out.error);
  checkShape(out.result, 'webgpu');
  const ref = trainerPredict(model('a-seed1.mer'), fixture('music.wav'));
  const d = maxDiff(out.result, ref);
  t.diagnostic(`webgpu: ${out.result.quadrant} in ${out.result.ms} ms; max |page - trainer (cpu)| ${d.toExponential(2)}`);
  assert.equal(out.result.quadrant, ref.quadrant);
  assert.ok(d < 1e-3, `WebGPU and CPU differ by ${d}`);
  await page.screenshot({ path: path.join(OUT_DIR, 'page-webgpu.png'), fullPage: true });
  // WebGPU fails after the engine started (every read-back of a result is refused in the
  // worker, as on a lost device): the page falls back to the CPU, says so, and still answers
  const engines = page.workers();
  assert.ok(engines.length >= 1, 'the engine worker');
  for (const w of engines) {
    await w.evaluate(() => {
      GPUBuffer.prototype.mapAsync = () =>
        Promise.reject(new DOMException('simulated loss of the GPU device', 'OperationError'));
    });
  }
  const run = await page.getAttribute('#result', 'data-run');
  await pickModel(page, 'b-seed2.mer');
  await page.waitForFunction(() => {
    const r = document.querySelector('#result');
    return r.dataset.model === 'b-seed2.mer' && r.dataset.backend === 'cpu';
  }, null, { timeout: 180_000 });
  // the CPU workers took the song's spectrogram from the failed worker: no second decode
  assert.equal(await page.getAttribute('#result', 'data-run'), run, 'the song was analysed again from its file');
  assert.equal(await page.getAttribute('#backend', 'data-backend'), 'cpu');
  assert.match(await page.textContent('#backend'), /WebGPU failed/);
  const why = await page.getAttribute('#backend', 'title');
  t.diagnostic(`the page says: ${why}`);
  assert.match(why, /^WebGPU failed during the analysis \(.+\); the page uses the CPU now\.$/);
  const dB = await diffFromModel(page, 'b-seed2.mer');
  t.diagnostic(`after the simulated GPU loss: cpu result, max |diff| ${dB.toExponential(2)}`);
  assert.ok(dB < 1e-3);
  await page.close();
});

test('auto backend: WebGPU on a real GPU, the CPU when the only adapter is a software fallback', async (t) => {
  const page = await open(browser.context, '?model=a-seed1.mer');
  const info = await page.evaluate(async () => {
    const a = navigator.gpu ? await navigator.gpu.requestAdapter() : null;
    return a ? { fallback: !!((a.info && a.info.isFallbackAdapter) || a.isFallbackAdapter) } : null;
  });
  const backend = await page.getAttribute('#backend', 'data-backend');
  t.diagnostic(`adapter ${JSON.stringify(info)} -> ${backend}; ${await page.getAttribute('#backend', 'title')}`);
  assert.equal(backend, info && !info.fallback ? 'webgpu' : 'cpu');
  const out = await analyse(page, fixture('music.flac'));
  assert.ok(out.result, out.error);
  assert.equal(out.result.backend, backend);
  await page.close();
});

const ROOT = path.resolve(import.meta.dirname, '../..');

// A second server of the same page with another models folder; returns [url, server].
async function serveModels(dir) {
  const server = spawn(process.execPath, [path.join(ROOT, 'web/serve.mjs'), '--dist', path.join(ROOT, 'dist'), '--models', dir, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    server.stdout.on('data', (d) => {
      const m = /listening on (\S+)/.exec(String(d));
      if (m) resolve(m[1]);
    });
    server.on('exit', () => reject(new Error('the second server did not start')));
  });
  origins.add(new URL(url).origin);
  return [url, server];
}

test('the shipped models (models/): all listed, the page starts on the default; a dropped song gets the CLI\'s answer', async (t) => {
  const shipped = path.join(ROOT, 'models');
  const index = JSON.parse(readFileSync(path.join(shipped, 'index.json'), 'utf8'));
  assert.ok(index.models.length >= 1 && index.models.length <= 6, `${index.models.length} shipped models`);
  assert.ok(index.models.some((m) => m.file === index.default), `the default ${index.default} is shipped`);
  const [url, server] = await serveModels(shipped);
  try {
    const page = await browser.context.newPage();
    await page.goto(`${url}?backend=cpu`);
    await page.waitForFunction(() => !document.querySelector('#model').disabled, null, { timeout: 60_000 });
    assert.equal(await page.locator('#model option').count(), index.models.length);
    const file = index.default;
    const out = await analyse(page, fixture('music.mp3'), { drop: true });
    assert.ok(out.result, `no result: ${out.error}`);
    checkShape(out.result, 'cpu');
    assert.equal(out.result.model, file, 'the page analyses with the default model');
    const ref = trainerPredict(path.join(shipped, file), fixture('music.mp3'));
    const d = maxDiff(out.result, ref);
    t.diagnostic(`${file}: page ${out.result.quadrant} ${JSON.stringify(out.result.probabilities)}; trainer ${ref.quadrant}; max |diff| ${d.toExponential(2)}`);
    assert.equal(out.result.quadrant, ref.quadrant);
    assert.ok(d < 1e-3, `page and trainer differ by ${d}`);
    // the trajectory and the timeline are drawn
    assert.ok(await page.locator('#timeline-svg rect').count() > 5, 'a timeline of segments');
    assert.equal(await page.locator('#plane path.trajectory').count(), 1, 'the trajectory on the plane');
    await page.screenshot({ path: path.join(OUT_DIR, 'page-shipped.png'), fullPage: true });
    await page.close();
  } finally {
    server.kill();
  }
});

test('no models shipped: the page says so, and a dropped song gets a clear message', async () => {
  const empty = path.join(WORK_DIR, 'no-models');
  mkdirSync(empty, { recursive: true });
  const [url, server] = await serveModels(empty);
  try {
    const page = await browser.context.newPage();
    await page.goto(`${url}?backend=cpu`);
    await page.waitForFunction(() => document.querySelector('#model-info').textContent.includes('No trained models'), null, { timeout: 60_000 });
    assert.equal(await page.isDisabled('#compare'), true);
    const before = await page.evaluate(() => Number(document.querySelector('#result').dataset.run || 0));
    await page.setInputFiles('#file', fixture('music.wav'));
    const out = await waitOutcome(page, before);
    assert.ok(out.error, `a result without a model? ${JSON.stringify(out)}`);
    assert.match(out.error, /no model to run: no trained models are shipped/, out.error);
    await page.close();
  } finally {
    server.kill();
  }
});

test('offline after one visit: with the server gone the page loads and analyses with the model it used; the copy can be forgotten', async (t) => {
  const [url, server] = await serveModels(MODELS);
  let page;
  try {
    page = await browser.context.newPage();
    await page.goto(`${url}?backend=cpu&model=a-seed1.mer`);
    await page.waitForSelector('html[data-offline="ready"]', { timeout: 60_000 });
    const first = await analyse(page, fixture('music.wav'));
    assert.ok(first.result, `no result online: ${first.error}`);
  } finally {
    server.kill();
  }
  await new Promise((resolve) => (server.exitCode !== null ? resolve() : server.on('exit', resolve)));
  await assert.rejects(fetch(`${url}index.html`), 'the server is gone');
  await page.reload();
  await page.waitForFunction(() => !document.querySelector('#model').disabled, null, { timeout: 60_000 });
  const offline = await analyse(page, fixture('music.wav'));
  assert.ok(offline.result, `no result offline: ${offline.error}`);
  checkShape(offline.result, 'cpu');
  const ref = trainerPredict(model('a-seed1.mer'), fixture('music.wav'));
  assert.equal(offline.result.quadrant, ref.quadrant);
  assert.ok(maxDiff(offline.result, ref) < 1e-3);
  t.diagnostic(`offline: ${offline.result.quadrant} in ${offline.result.ms} ms`);
  // forgetting removes the service worker and both caches
  await page.click('#forget-offline');
  await page.waitForFunction(() => document.querySelector('#offline-status').textContent.includes('removed'));
  const left = await page.evaluate(async () => ({
    caches: (await caches.keys()).filter((k) => k.startsWith('mer-')),
    workers: (await navigator.serviceWorker.getRegistrations()).length,
  }));
  assert.deepEqual(left, { caches: [], workers: 0 });
  await page.close();
});

test('privacy: every request goes to the page’s own origin, without a body; CSP is set', async (t) => {
  const requests = browser.requests;
  assert.ok(requests.length > 5);
  const foreign = requests.filter((r) => !r.url.startsWith('blob:') && !r.url.startsWith('data:') && !origins.has(new URL(r.url).origin));
  assert.deepEqual(foreign.map((r) => r.url), [], 'requests to another origin');
  const withBody = requests.filter((r) => r.body && r.body.length > 0);
  assert.deepEqual(withBody.map((r) => `${r.method} ${r.url}`), [], 'requests with a body');
  const methods = new Set(requests.map((r) => r.method));
  assert.deepEqual([...methods].filter((m) => m !== 'GET' && m !== 'HEAD'), []);
  // what the server saw
  const served = readFileSync(process.env.REQUEST_LOG, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(served.every((r) => (r.method === 'GET' || r.method === 'HEAD') && !r.length), 'the server saw a request with a body');
  t.diagnostic(`${requests.length} requests seen by the browser, ${served.length} by the server, all GET to ${ORIGIN}`);
  // the policy, as a header and in the page
  const csp = await new Promise((resolve, reject) => {
    http.get(BASE_URL, (res) => {
      res.resume();
      resolve(res.headers['content-security-policy']);
    }).on('error', reject);
  });
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /connect-src 'self'/);
  const page = await open(browser.context, '?backend=cpu');
  const meta = await page.getAttribute('meta[http-equiv="Content-Security-Policy"]', 'content');
  assert.match(meta, /connect-src 'self'/);
  assert.match(await page.textContent('body'), /Nothing is uploaded/);
  // the policy is enforced: another origin that really answers (another port here, open
  // to every origin by CORS) stays unreachable, and never sees a request
  const seen = [];
  const other = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'Access-Control-Allow-Origin': '*', 'Content-Type': 'text/plain' });
    res.end('reachable');
  });
  await new Promise((resolve) => other.listen(0, '127.0.0.1', resolve));
  const probe = `http://127.0.0.1:${other.address().port}/probe`;
  try {
    // the server answers a client without the policy
    const direct = await fetch(probe);
    assert.equal(await direct.text(), 'reachable');
    seen.length = 0;
    const outcome = await page.evaluate(async (url) => {
      try {
        const res = await fetch(url, { method: 'POST', body: 'x' });
        return `fetched: ${await res.text()}`;
      } catch (e) {
        return `blocked: ${e.message}`;
      }
    }, probe);
    assert.match(outcome, /^blocked/, outcome);
    assert.deepEqual(seen, [], 'the other origin received a request');
  } finally {
    other.close();
  }
  await page.close();
});
