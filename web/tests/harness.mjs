// Shared helpers for the page tests and the benchmark: a static server for the built dist/, Debian's
// Chromium driven by playwright-core, real HAM10000 photos from ../shared, and the reference
// answers from `train-native predict --json`.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serve as serveStatic } from '../serve.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../..');
export const DIST = process.env.DIST_DIR ?? path.join(ROOT, 'dist');
export const PAGES = path.join(here, 'pages');
export const SHARED = process.env.HAM10000_DIR ?? path.resolve(ROOT, '../shared/ham10000');
export const ARTIFACTS = process.env.ARTIFACTS_DIR ?? path.join(here, 'artifacts');
export const CLASSES = ['akiec', 'bcc', 'bkl', 'df', 'mel', 'nv', 'vasc'];

/** Fixtures of this repository (web/tests/fixtures): pictures that are not dermatoscopy photos. */
export const FIXTURES = path.join(here, 'fixtures');

/**
 * Serve `root` (the built dist/ by default) on 127.0.0.1 with the page's CSP as a header too
 * (web/serve.mjs). `cors` lets pages of another origin embed the widget. Returns {origin,
 * requests (paths served), close()}.
 */
export async function serve(root = DIST, options = {}) {
  if (!existsSync(path.join(root, 'index.html')) && root === DIST) {
    throw new Error(`${root} has no index.html: run \`node web/build.mjs\` first`);
  }
  return serveStatic(root, options);
}

const tempDirs = [];
let removalRegistered = false;
/** Signals that end a test file's process early: Ctrl-C, a runner's or CI's kill, a closed terminal. */
const ENDING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function removeTempDirs() {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * A new folder under the system's temporary folder, removed with everything in it when this
 * process exits, whether its tests passed or failed (node --test runs each test file in a
 * process of its own), or when a signal ends it. What a failing test leaves to look at goes to
 * `artifactPath` instead: left behind, the copied sites, fixtures and dist/ copies came to about
 * 110 MB a run.
 */
export function tempDir(prefix) {
  if (!removalRegistered) {
    removalRegistered = true;
    process.on('exit', removeTempDirs);
    for (const signal of ENDING_SIGNALS) {
      // Listening to a signal stops node's default of ending the process, so once the folders
      // are gone the signal is raised again and ends it as it would have (unless another part
      // of the process, such as the test runner, listens and decides).
      process.once(signal, () => {
        removeTempDirs();
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
    }
  }
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/**
 * A host site of another origin, served: `index.html` holding `html`, and a copy of each model
 * folder of `models` (`{folder: dir}`, its config.json and model.bpk).
 */
export async function hostSite(html, models = {}) {
  const site = tempDir('host-site-');
  writeFileSync(path.join(site, 'index.html'), html);
  for (const [name, dir] of Object.entries(models)) {
    mkdirSync(path.join(site, name));
    for (const file of ['config.json', 'model.bpk']) copyFileSync(path.join(dir, file), path.join(site, name, file));
  }
  return serve(site);
}

/** Debian's Chromium, headless, with WebGPU on its bundled SwiftShader. */
export function launch() {
  // playwright gives every launch a fresh temporary profile (--user-data-dir) of its own.
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-quic', '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader',
      '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-angle=vulkan',
    ],
  });
}

/**
 * A new page that records console errors, page errors, workers' warnings, CSP violations and
 * every request.
 * `hideGpu` removes navigator.gpu before any script runs, as in a browser without WebGPU;
 * `routes(context)` runs before the page loads (to answer some requests with other files; the
 * service worker is then blocked, so that no request is answered from its cache instead).
 */
export async function openPage(browser, url, { hideGpu = false, viewport, bypassCSP = false, routes } = {}) {
  const serviceWorkers = routes ? 'block' : 'allow';
  const context = await browser.newContext({ viewport: viewport ?? { width: 1200, height: 900 }, bypassCSP, serviceWorkers });
  await routes?.(context);
  const page = await context.newPage();
  const log = { errors: [], warnings: [], requests: [], violations: [] };
  page.on('console', (m) => m.type() === 'error' && log.errors.push(m.text()));
  page.on('pageerror', (e) => log.errors.push(String(e)));
  page.on('request', (r) => log.requests.push(r.url()));
  context.on('request', (r) => log.requests.push(r.url()));
  page.on('worker', (w) => w.on('console', (m) => {
    if (m.type() === 'error') log.errors.push(`worker: ${m.text()}`);
    if (m.type() === 'warning') log.warnings.push(`worker: ${m.text()}`);
  }));
  await page.exposeFunction('__cspViolation', (v) => log.violations.push(v));
  await page.addInitScript((hide) => {
    if (hide) Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
    document.addEventListener('securitypolicyviolation', (e) => window.__cspViolation(`${e.violatedDirective} ${e.blockedURI}`));
    // When the first widget became ready, for the benchmark.
    document.addEventListener('ready', () => (window.__readyAt ??= performance.now()));
  }, hideGpu);
  await page.goto(url);
  return { page, context, log };
}

/** Resolves with the backend once the first widget in the page is ready. */
export async function widgetReady(page, selector = 'skin-lesion-classifier', timeout = 120_000) {
  await page.waitForFunction((s) => document.querySelector(s)?.dataset.ready, selector, { timeout });
  return page.evaluate((s) => document.querySelector(s).dataset.ready, selector);
}

/** Upload `file` through the widget's own file input; resolves to the `classified` or `error` event. */
export async function uploadAndWait(page, file, selector = 'skin-lesion-classifier') {
  const outcome = page.evaluate((s) => new Promise((resolve) => {
    const widget = document.querySelector(s);
    const done = (type) => (event) => {
      widget.removeEventListener('classified', ok);
      widget.removeEventListener('error', failed);
      resolve({ type, detail: event.detail, status: widget.shadowRoot.querySelector('.status').textContent });
    };
    const ok = done('classified');
    const failed = done('error');
    widget.addEventListener('classified', ok);
    widget.addEventListener('error', failed);
  }), selector);
  await page.locator(`${selector} input[type=file]`).setInputFiles(file);
  return outcome;
}

/** The first `perClass` photos of each class in the metadata, as absolute paths. */
export function samplePhotos(perClass = 1) {
  const csv = readFileSync(path.join(SHARED, 'HAM10000_metadata.csv'), 'utf8').trim().split('\n');
  const header = csv[0].split(',');
  const [image, dx] = [header.indexOf('image_id'), header.indexOf('dx')];
  const picked = Object.fromEntries(CLASSES.map((c) => [c, []]));
  for (const line of csv.slice(1)) {
    const cols = line.split(',');
    if (picked[cols[dx]].length < perClass) picked[cols[dx]].push(findImage(`${cols[image]}.jpg`));
  }
  return CLASSES.flatMap((c) => picked[c]);
}

/** The path of HAM10000 photo `name` (for example `ISIC_0027010.jpg`) under ../shared. */
export function findImage(name) {
  for (const dir of [SHARED, ...readdirSync(SHARED).map((d) => path.join(SHARED, d))]) {
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`${name} is not in ${SHARED}`);
}

/**
 * `cargo run --release --locked -q -p train-native ARGS`, built as CI's native tests build it:
 * without the `wgpu` feature, which answers on the CPU alike and would otherwise compile
 * another 220 crates here (docs/training.md).
 */
function trainNative(args) {
  const full = ['run', '--release', '--locked', '-q', '-p', 'train-native', '--no-default-features', ...args];
  const run = spawnSync('cargo', full, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`cargo ${full.join(' ')} failed:\n${run.stderr}`);
  return run.stdout;
}

/**
 * `train-native predict --json` for each file: {file -> {top, probabilities, ...} | {error}};
 * `options` go before the files (`--age 70`, say).
 */
export function predictJson(files, options = []) {
  const out = trainNative(['--', 'predict', '--json', ...options, ...files]);
  return Object.fromEntries(out.trim().split('\n').map((line) => JSON.parse(line)).map((r) => [r.file, r]));
}

/** `train-native explain --json` for each file: {file -> {top, side, map}}. */
export function explainJson(files) {
  const out = trainNative(['--', 'explain', '--json', ...files]);
  return Object.fromEntries(out.trim().split('\n').map((line) => JSON.parse(line)).map((r) => [r.file, r]));
}

let fixtureDir = null;
/**
 * Odd and broken photos made from a real one, and a model whose weights make NaN
 * (train-native/examples/web_fixtures.rs).
 */
export function fixtures() {
  if (!fixtureDir) {
    fixtureDir = tempDir('widget-fixtures-');
    trainNative(['--example', 'web_fixtures', '--', samplePhotos(1)[4], fixtureDir]);
  }
  const list = (kind) => readdirSync(path.join(fixtureDir, kind)).sort().map((f) => path.join(fixtureDir, kind, f));
  return { ok: list('ok'), bad: list('bad'), nanModel: path.join(fixtureDir, 'nan-model'), otherModel: path.join(fixtureDir, 'other-model'), threeClassModel: path.join(fixtureDir, 'three-class-model') };
}

/** Largest absolute difference between two probability maps. */
export function maxDifference(a, b) {
  return Math.max(...CLASSES.map((c) => Math.abs(a[c] - b[c])));
}

export function artifactPath(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}
