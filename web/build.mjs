// Builds the page into dist/: the two browser modules from the Rust crate, and the page's own
// files and the model's, copied as they are.
//
//   node web/build.mjs            the release page (profile `web`: size first, then wasm-opt -Oz)
//   node web/build.mjs --dev      unoptimised modules, for a quick look
//   node web/build.mjs --watch    build, then rebuild when what the page is built from changes
//
// Run from anywhere; it works in the repository root. The tools it calls are cargo, the
// wasm-bindgen CLI of exactly Cargo.lock's version and wasm-opt from npm's binaryen
// (`.ci/tools.sh` installs both). A build goes to a staging folder that replaces dist/ only when
// every step has worked, so a failed build leaves the last good page in place.
//
// It replaces trunk, whose part here was this much: trunk's install was the longest step of a
// cold CI run (5.6 of 47 minutes).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The two modules: the worker loads the CPU-only one first and the WebGPU one only where a
 * hardware adapter exists or WebGPU is asked for by name (docs/browser.md). */
export const MODULES = [
  { name: 'skin-lesion', features: [] },
  { name: 'skin-lesion-webgpu', features: ['webgpu'] },
];

/** Copied to dist/ under their own names. The page links them from index.html; the service
 * worker (web/sw.js) caches them. */
export const PAGE_FILES = [
  'index.html',
  'web/page.css',
  'web/page.js',
  'web/report.js',
  'web/skin-lesion-classifier.js',
  'web/skin-lesion-classifier.css',
  'web/classifier-worker.js',
  'web/worker-link.js',
  'web/favicon.svg',
  'web/icon-192.png',
  'web/icon-512.png',
  'web/manifest.webmanifest',
  'web/sw.js',
  'web/model/config.json',
  'web/model/model.bpk',
  'web/model/report.json',
  'web/model/training_curves.svg',
  'web/model/confusion_matrix.svg',
  'web/model/reliability.svg',
  'web/model/risk_coverage.svg',
];

/** What `--watch` rebuilds for: not training runs, caches, test artifacts or the model, which
 * web/serve.mjs serves live from web/model. */
const WATCHED = ['index.html', 'Cargo.toml', 'Cargo.lock', 'src', 'web'];
const NOT_WATCHED = ['web/model', 'web/tests', 'web/bench', 'web/node_modules', 'web/screenshot.png', 'web/build.mjs'];

/** Run a command in the repository root, its output prefixed with `label`; resolves when it
 * exits with status 0, rejects with what failed otherwise. */
function run(label, command, args) {
  const shown = [command, ...args].join(' ');
  console.log(`${label}: ${shown}`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout, child.stderr]) {
      let pending = '';
      stream.on('data', (chunk) => {
        const lines = (pending + chunk).split('\n');
        pending = lines.pop();
        for (const line of lines) console.log(`${label}: ${line}`);
      });
      stream.on('end', () => { if (pending) console.log(`${label}: ${pending}`); });
    }
    child.on('error', (error) => reject(new Error(`${command} could not be started ` +
      `(${error.code ?? error.message}): run \`source .ci/tools.sh\` from the repository root to install it`)));
    child.on('close', (status, signal) => {
      if (status === 0) resolve();
      else reject(new Error(`${shown} failed (exit status ${status ?? signal})`));
    });
  });
}

function targetDir() {
  return path.resolve(root, process.env.CARGO_TARGET_DIR ?? 'target');
}

/** Build one module with cargo and generate its JS glue with wasm-bindgen; then start shrinking
 * it, which works on the staged copy, so the next module's build need not wait: `shrunk` is
 * that step's promise (already caught, so a failure waits to be read). */
async function buildModule(module, { dev, staging }) {
  const profile = dev ? 'dev' : 'web';
  const features = module.features.length ? ['--features', module.features.join(',')] : [];
  await run(module.name, 'cargo', ['build', '--locked', '--target', 'wasm32-unknown-unknown', '-p', 'skin-lesion',
    '--profile', profile, ...features]);
  const wasm = path.join(targetDir(), 'wasm32-unknown-unknown', dev ? 'debug' : profile, 'skin_lesion.wasm');
  await run(module.name, 'wasm-bindgen', ['--target', 'web', '--no-typescript', '--out-name', module.name,
    '--out-dir', staging, wasm]);
  if (dev) return { shrunk: Promise.resolve(null) };
  const out = path.join(staging, `${module.name}_bg.wasm`);
  return { shrunk: run(module.name, 'wasm-opt', ['-Oz', '--output', out, out]).then(() => null, (error) => error) };
}

function copyPageFiles(staging) {
  for (const file of PAGE_FILES) {
    const from = path.join(root, file);
    if (!fs.existsSync(from)) throw new Error(`${file} is missing: the page needs it`);
    fs.copyFileSync(from, path.join(staging, path.basename(file)));
  }
}

/** One build into a fresh staging folder, then swapped in for dist/. */
export async function build({ dev = false, dist = path.join(root, 'dist') } = {}) {
  const started = Date.now();
  const staging = `${dist}.staging`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  try {
    copyPageFiles(staging);
    // One after the other, in one target dir: the second reuses what the first compiled (flex
    // above all), where two at once would each compile it on the same two cores.
    const shrinking = [];
    for (const module of MODULES) shrinking.push((await buildModule(module, { dev, staging })).shrunk);
    const failed = (await Promise.all(shrinking)).find((error) => error);
    if (failed) throw failed;
  } catch (error) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw error;
  }
  const old = `${dist}.old`;
  fs.rmSync(old, { recursive: true, force: true });
  if (fs.existsSync(dist)) fs.renameSync(dist, old);
  fs.renameSync(staging, dist);
  fs.rmSync(old, { recursive: true, force: true });
  console.log(`build: ${path.relative(root, dist) || dist}/ ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

/** Whether a change to `relative` (a path from the repository root, `/`-separated) rebuilds. */
export function isWatched(relative) {
  const inside = (dir) => relative === dir || relative.startsWith(`${dir}/`);
  return WATCHED.some(inside) && !NOT_WATCHED.some(inside);
}

/** Rebuild after a change settles (editors write in bursts); one build at a time. */
function watch(options) {
  let timer = null;
  let building = false;
  let again = false;
  const rebuild = async () => {
    if (building) { again = true; return; }
    building = true;
    try { await build(options); } catch (error) { console.error(`build: ${error.message}`); }
    building = false;
    if (again) { again = false; schedule(); }
  };
  const schedule = () => { clearTimeout(timer); timer = setTimeout(rebuild, 300); };
  // The root and web/ without their subfolders (target/, node_modules/ and the model are
  // large and not watched); src/ with them.
  for (const [dir, recursive] of [['.', false], ['web', false], ['src', true]]) {
    fs.watch(path.join(root, dir), { recursive }, (_event, name) => {
      if (name && isWatched(path.posix.join(dir, name.split(path.sep).join('/')))) schedule();
    });
  }
  console.log('build: watching index.html, Cargo.toml, Cargo.lock, src/ and web/ (not the model)');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => !['--dev', '--watch'].includes(a));
  if (unknown.length) {
    console.error(`usage: node web/build.mjs [--dev] [--watch] (unknown: ${unknown.join(' ')})`);
    process.exit(2);
  }
  const options = { dev: args.includes('--dev') };
  try {
    await build(options);
  } catch (error) {
    console.error(`build: ${error.message}`);
    if (!args.includes('--watch')) process.exit(1);
  }
  if (args.includes('--watch')) watch(options);
}
