#!/usr/bin/env node
// A small static server for the page (node's standard library only): dist/ at /, the model
// folder at /models/, with the page's Content-Security-Policy as a header, the right MIME
// types (application/wasm) and nothing but GET and HEAD.
//
//   node web/serve.mjs --dist dist --models models [--host 127.0.0.1] [--port 8080]
//                      [--log requests.jsonl]
// --port 0 picks a free port; the first line on stdout is then "listening on URL".
import { createServer } from 'node:http';
import { createReadStream, appendFileSync, promises as fs } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const dist = path.resolve(opt('dist', 'dist'));
const models = path.resolve(opt('models', 'models'));
const host = opt('host', '127.0.0.1');
const port = Number(opt('port', process.env.PORT || 8080));
const log = opt('log', null);

export const CSP = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "connect-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.mer': 'application/octet-stream',
  '.txt': 'text/plain; charset=utf-8',
};

function resolve(urlPath) {
  let p;
  try {
    p = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  const [root, rest] = p.startsWith('/models/') ? [models, p.slice('/models/'.length)] : [dist, p.slice(1)];
  const file = path.resolve(root, rest || 'index.html');
  // never outside the served folders
  if (file !== root && !file.startsWith(root + path.sep)) return null;
  return file;
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (log) {
    appendFileSync(log, JSON.stringify({ method: req.method, url: req.url, length: req.headers['content-length'] || null }) + '\n');
  }
  const headers = {
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-cache',
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { ...headers, Allow: 'GET, HEAD' });
    res.end();
    return;
  }
  let file = resolve(url.pathname);
  try {
    if (!file) throw new Error('outside');
    let stat = await fs.stat(file);
    if (stat.isDirectory()) {
      file = path.join(file, 'index.html');
      stat = await fs.stat(file);
    }
    res.writeHead(200, {
      ...headers,
      'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream',
      'Content-Length': stat.size,
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  } catch {
    res.writeHead(404, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('not found\n');
  }
});

server.listen(port, host, () => {
  const { port: actual } = server.address();
  console.log(`listening on http://${host}:${actual}/`);
});
