// Makes a model file that claims another variant (method, pretraining languages, transfer
// mode) and test scores, from one written by `trainer init`: rewrites the JSON header and the
// checksum of the model file format (mer/src/model_file.rs). The weights stay random: this
// only gives the page's picker and compare view the metadata of real models.
//
//   node variant.mjs IN.mer OUT.mer METHOD LANGS MODE QUADRANT_F1
//   e.g. node variant.mjs b.mer scae-full-eng.mer scae eng full 0.57
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output, method, langs, mode, f1] = process.argv.slice(2);
const bytes = readFileSync(input);
const headerLen = bytes.readUInt32LE(12);
const meta = JSON.parse(bytes.subarray(16, 16 + headerLen).toString('utf8'));
const weights = bytes.subarray(16 + headerLen, bytes.length - 32); // length prefix + weights
meta.variant = {
  method,
  pretrain_languages: langs === 'none' ? [] : langs.split('+'),
  mode,
  music: ['4Q-emotion'],
};
const q = Number(f1);
const r = (x) => Math.round(x * 100) / 100;
const level = (x) => ({
  quadrant: { f1_weighted: r(x), f1_macro: r(x - 0.01), accuracy: r(x + 0.02) },
  arousal: { f1_weighted: r(x + 0.12), f1_macro: r(x + 0.11), accuracy: r(x + 0.13) },
  valence: { f1_weighted: r(x + 0.24), f1_macro: r(x + 0.23), accuracy: r(x + 0.25) },
});
meta.metrics = { test: { songs: 270, patches: 16740, patch: level(q), song: level(q + 0.04) } };
meta.training = { note: 'random weights relabelled by tests/browser/variant.mjs' };
const header = Buffer.from(JSON.stringify(meta), 'utf8');
const head = Buffer.alloc(16);
bytes.copy(head, 0, 0, 12); // magic + format version
head.writeUInt32LE(header.length, 12);
const body = Buffer.concat([head, header, weights]);
const digest = createHash('sha256').update(body).digest();
writeFileSync(output, Buffer.concat([body, digest]));
