// The page build (web/build.mjs): what it copies, what it watches, and that a failed build
// leaves the last good dist/ in place. The real build runs in CI before these page tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { MODULES, PAGE_FILES, build, isWatched } from '../build.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The service worker's offline list, read from web/sw.js. */
function shell() {
  const source = fs.readFileSync(path.join(root, 'web/sw.js'), 'utf8');
  const list = source.match(/const SHELL = \[([\s\S]*?)\];/);
  assert.ok(list, 'web/sw.js has a SHELL list');
  return [...list[1].matchAll(/'([^']+)'/g)].map((m) => m[1]).filter((f) => f !== './');
}

test('every file the service worker caches is one the build puts in dist/, and back', () => {
  const built = new Set(PAGE_FILES.map((f) => path.basename(f)));
  for (const { name } of MODULES) built.add(`${name}.js`).add(`${name}_bg.wasm`);
  const cached = shell();
  for (const file of cached) assert.ok(built.has(file), `sw.js caches ${file}, which the build does not make`);
  // Left out on purpose: the WebGPU module (cached once it is used) and the service worker
  // itself (the browser keeps it).
  const webgpu = MODULES.find((m) => m.features.includes('webgpu')).name;
  const uncached = [...built].filter((f) => !cached.includes(f));
  assert.deepEqual(uncached.sort(), [`${webgpu}.js`, `${webgpu}_bg.wasm`, 'sw.js'].sort());
});

test('every file the page links is built', () => {
  const html = fs.readFileSync(path.join(root, 'index.html'), 'utf8');
  const linked = [...html.matchAll(/(?:href|src)="([^"#:]+)"/g)].map((m) => m[1]);
  const built = new Set(PAGE_FILES.map((f) => path.basename(f)));
  assert.ok(linked.length >= 6, `index.html links ${linked.length} files`);
  for (const file of linked) assert.ok(built.has(file), `index.html links ${file}, which the build does not copy`);
});

test('--watch rebuilds for the page and the crate, not for the model, tests or other crates', () => {
  for (const p of ['src/lib.rs', 'src/web/mod.rs', 'web/page.js', 'index.html', 'Cargo.lock']) {
    assert.ok(isWatched(p), p);
  }
  for (const p of ['web/model/model.bpk', 'web/tests/page.test.mjs', 'web/node_modules/x/y.js',
    'train-native/src/main.rs', 'target/x', 'dist/index.html', 'srcx/a.rs']) {
    assert.ok(!isWatched(p), p);
  }
});

test('a failed build leaves the last good dist/ and no staging folder', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'page-build-'));
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'cargo'), '#!/bin/sh\necho "cargo: pretend failure" >&2\nexit 3\n', { mode: 0o755 });
  const dist = path.join(tmp, 'dist');
  fs.mkdirSync(dist);
  fs.writeFileSync(path.join(dist, 'index.html'), 'last good page');
  const saved = process.env.PATH;
  process.env.PATH = `${bin}${path.delimiter}${saved}`;
  try {
    await assert.rejects(build({ dist }), /cargo build .* failed \(exit status 3\)/);
  } finally {
    process.env.PATH = saved;
  }
  assert.equal(fs.readFileSync(path.join(dist, 'index.html'), 'utf8'), 'last good page');
  assert.ok(!fs.existsSync(`${dist}.staging`));
  fs.rmSync(tmp, { recursive: true, force: true });
});
