// The page's static server, for development (`.ci/serve`), the page tests and the benchmark:
// the built dist/ as it is, with
//   - the model files served from a model folder (web/model) when one is given, over the
//     copies in dist/: a retrained model reaches the page on the next reload, without
//     rebuilding the wasm;
//   - the page's Content-Security-Policy (read from dist/index.html's <meta>) sent as an HTTP
//     header as well, since a <meta> policy does not reach the workers;
//   - `cache-control: no-cache` with an ETag, so the browser revalidates (a 304 costs no
//     body) and the service worker decides.
//
//   node web/serve.mjs [--dist dist] [--model web/model] [--port 8080]
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml',
  '.bpk': 'application/octet-stream', '.png': 'image/png', '.jpg': 'image/jpeg',
  '.webmanifest': 'application/manifest+json',
};

/** The files of a model folder that the page fetches. */
const MODEL_FILES = new Set(['config.json', 'model.bpk', 'report.json', 'training_curves.svg', 'confusion_matrix.svg', 'reliability.svg', 'risk_coverage.svg']);

/** The Content-Security-Policy of `root`/index.html, or null. */
export function pageCsp(root) {
  const index = path.join(root, 'index.html');
  if (!existsSync(index)) return null;
  return readFileSync(index, 'utf8').match(/http-equiv="Content-Security-Policy" content="([^"]+)"/)?.[1] ?? null;
}

/**
 * Serve `root` on 127.0.0.1. `model`: a folder whose model files replace dist's; `cors`: let
 * pages of another origin embed the widget; `csp`: send the page's policy as a header.
 * Resolves to {origin, requests (paths served), close()}.
 */
export async function serve(root, { model = null, cors = false, csp = true, port = 0 } = {}) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    requests.push(url.pathname);
    const name = decodeURIComponent(url.pathname);
    let file = path.join(root, name);
    if (!file.startsWith(root)) return void res.writeHead(403).end();
    if (model && MODEL_FILES.has(path.basename(name)) && path.dirname(name) === '/') file = path.join(model, path.basename(name));
    if (existsSync(file) && statSync(file).isDirectory()) file = path.join(file, 'index.html');
    if (!existsSync(file)) return void res.writeHead(404).end('not found');
    const stat = statSync(file);
    const etag = `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
    const headers = { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache', etag };
    const policy = csp && pageCsp(root);
    if (policy) headers['content-security-policy'] = policy;
    if (cors) headers['access-control-allow-origin'] = '*';
    if (req.headers['if-none-match'] === etag) return void res.writeHead(304, headers).end();
    res.writeHead(200, headers);
    createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, requests, close: () => new Promise((resolve) => server.close(resolve)) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const option = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = path.resolve(option('dist', path.join(here, '..', 'dist')));
  const model = path.resolve(option('model', path.join(here, 'model')));
  const { origin } = await serve(root, { model, port: Number(option('port', 8080)) });
  console.log(`serving ${root} (model files from ${model}) on ${origin}`);
}
