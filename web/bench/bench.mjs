// Benchmark of the built page in headless Chromium (prints figures; not a test):
//   bytes a first visit transfers with WebGPU unavailable (every file the page, its worker and
//   its service worker fetch; raw and gzip), time from navigation to widget ready, first and
//   warm inference latency (median of 20) on WebGPU and on the CPU, the answer again with other
//   patient data (answerAgain's round trip, median of 20), and how long the saliency
//   map takes after the verdict on the CPU.
// Run after `node web/build.mjs`:  node web/bench/bench.mjs  (or `npm run bench` in web/).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { DIST, launch, openPage, samplePhotos, serve, widgetReady } from '../tests/harness.mjs';

const RUNS = 20;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const kb = (n) => `${(n / 1024).toFixed(0)} KiB`;

const server = await serve();
const browser = await launch();
const photo = readFileSync(samplePhotos(1)[4]).toString('base64');

// One page load as a visitor gets it (the widget's `auto` backend), then each backend loaded
// explicitly in that page: load time (fetch, weights check, warm-up), first and warm latency.
const before = server.requests.length;
const { page, context } = await openPage(browser, `${server.origin}/`, { hideGpu: true });
const autoBackend = await widgetReady(page);
const readyMs = await page.evaluate(() => window.__readyAt);
await page.waitForSelector('#report[data-rendered]');
// The service worker caches the page for offline use once the widget is ready: part of a
// first visit.
await page.evaluate(async () => {
  await navigator.serviceWorker.ready;
  if (!navigator.serviceWorker.controller) {
    await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
  }
});
const loaded = server.requests.slice(before);
const results = [];
for (const backend of ['cpu', 'webgpu']) {
  results.push(await page.evaluate(async ({ photo, runs, backend }) => {
    const { load } = await import('/skin-lesion-classifier.js');
    const t0 = performance.now();
    const classifier = await load({ backend });
    const loadMs = performance.now() - t0;
    const blob = new Blob([Uint8Array.from(atob(photo), (c) => c.charCodeAt(0))], { type: 'image/jpeg' });
    let detail = null;
    const time = async () => {
      const t = performance.now();
      detail = await classifier.classify(blob);
      return { inWorker: detail.ms, roundTrip: performance.now() - t };
    };
    const first = await time();
    const warm = [];
    const saliency = [];
    const again = [];
    for (let i = 0; i < runs; i++) {
      warm.push(await time());
      saliency.push((await classifier.saliency()).ms);
      // The patient form changed: the same photo answered with patient data, no network pass.
      const t = performance.now();
      if (classifier.patientFields) await classifier.answerAgain(detail, { patient: { age: 40 + i } });
      again.push(performance.now() - t);
    }
    return { backend: classifier.backend, loadMs, first, warm, saliency, again };
  }, { photo, runs: RUNS, backend }));
}
await context.close();

const files = [...new Set(loaded)].filter((p) => !p.endsWith('/'));
let raw = 0;
let gz = 0;
console.log('\nFirst visit with WebGPU unavailable (page, widget, model, report, service worker cache):');
for (const file of files) {
  const bytes = readFileSync(path.join(DIST, file));
  const zipped = gzipSync(bytes, { level: 9 }).length;
  raw += bytes.length;
  gz += zipped;
  console.log(`  ${file.padEnd(32)} ${kb(bytes.length).padStart(10)} ${kb(zipped).padStart(10)} gzip`);
}
const index = readFileSync(path.join(DIST, 'index.html'));
const indexZipped = gzipSync(index, { level: 9 }).length;
raw += index.length;
gz += indexZipped;
console.log(`  ${'/ (index.html)'.padEnd(32)} ${kb(index.length).padStart(10)} ${kb(indexZipped).padStart(10)} gzip`);
console.log(`  ${'total'.padEnd(32)} ${kb(raw).padStart(10)} ${kb(gz).padStart(10)} gzip  (${(raw / 1e6).toFixed(2)} MB, ${(gz / 1e6).toFixed(2)} MB gzip)`);
console.log(`\nWidget ready ${readyMs.toFixed(0)} ms after navigation (backend chosen by auto: ${autoBackend}).`);

console.log(`\nPer backend: model load (download, shape check, warm-up), first photo, then the median of`);
console.log(`${RUNS} warm runs. 'worker' = decode + preprocess + network; 'round trip' adds reading the Blob and messaging.`);
for (const r of results) {
  const warmWorker = median(r.warm.map((t) => t.inWorker));
  const warmTrip = median(r.warm.map((t) => t.roundTrip));
  console.log(`  ${r.backend.padEnd(7)} load ${r.loadMs.toFixed(0).padStart(5)} ms | ` +
    `first ${r.first.inWorker.toFixed(1)} ms (round trip ${r.first.roundTrip.toFixed(1)}) | ` +
    `warm ${warmWorker.toFixed(1)} ms (round trip ${warmTrip.toFixed(1)}) | saliency ${median(r.saliency).toFixed(1)} ms | ` +
    `patient data changed ${median(r.again).toFixed(1)} ms (round trip)`);
}

await browser.close();
await server.close();
