// When things go wrong in the browser: a wasm trap in the worker, a worker that stops
// answering, weights that produce NaN, a widget whose model changes. Every request settles, the
// next photo classifies, and nothing is left running.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { DIST, fixtures, launch, maxDifference, openPage, predictJson, samplePhotos, serve, tempDir } from './harness.mjs';

let widgetServer;
let hostServer;
let browser;
let site;

/** A page of the host's with one widget. */
const ONE_WIDGET = (origin, attributes = '') => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>host</title>
<link rel="icon" href="data:,"><script type="module" src="${origin}/skin-lesion-classifier.js"></script></head>
<body><skin-lesion-classifier ${attributes}></skin-lesion-classifier></body></html>`;

before(async () => {
  widgetServer = await serve(undefined, { cors: true });
  site = tempDir('recovery-site-');
  writeFileSync(path.join(site, 'index.html'), ONE_WIDGET(widgetServer.origin, 'backend="cpu"'));
  // Weights that make the network output NaN, with a config signed for them.
  mkdirSync(path.join(site, 'nan-model'));
  for (const file of ['config.json', 'model.bpk']) copyFileSync(path.join(fixtures().nanModel, file), path.join(site, 'nan-model', file));
  hostServer = await serve(site);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await widgetServer?.close();
  await hostServer?.close();
});

/** Bytes of a file, for page.evaluate. */
const bytesOf = (file) => Array.from(readFileSync(file));

test('a trap in the worker fails only its own request: a photo in flight and the next photo are answered', async () => {
  const { page, log } = await openPage(browser, `${hostServer.origin}/`);
  const [photo, other] = samplePhotos(1).slice(4, 6);
  const expected = predictJson([photo, other]);
  const outcome = await page.evaluate(async ({ photo, other, origin }) => {
    const { load } = await import(`${origin}/skin-lesion-classifier.js`);
    const classifier = await load({ backend: 'cpu' });
    const file = (bytes) => new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' });
    const trap = classifier[Symbol.for('skin-lesion-classifier.trap-for-tests')]();
    // Sent while the trap is in flight, to the same worker: it waits behind it.
    const inFlight = classifier.classify(file(photo));
    const trapped = await trap.then(() => 'answered', (e) => `${e.name}: ${e.message}`);
    const first = await inFlight;
    const next = await classifier.classify(file(other));
    return { trapped, first, next };
  }, { photo: bytesOf(photo), other: bytesOf(other), origin: widgetServer.origin });
  assert.match(outcome.trapped, /^Crash: /, 'the trap is an error of its own request');
  assert.ok(maxDifference(outcome.first.probabilities, expected[photo].probabilities) < 1e-4, 'the photo in flight got its answer');
  assert.ok(maxDifference(outcome.next.probabilities, expected[other].probabilities) < 1e-4, 'the next photo is classified');
  assert.ok(!log.errors.some((e) => /Uncaught/.test(e)), log.errors.join('\n'));
  await page.context().close();
});

test('two widgets: the second one\'s photo in flight when the first one\'s request traps still gets its answer', async () => {
  const { page } = await openPage(browser, `${widgetServer.origin}/`);
  await page.waitForFunction(() => document.querySelector('skin-lesion-classifier')?.dataset.ready);
  const photo = samplePhotos(1)[2];
  const expected = predictJson([photo]);
  const outcome = await page.evaluate(async (bytes) => {
    const first = document.querySelector('skin-lesion-classifier');
    const second = document.createElement('skin-lesion-classifier');
    document.body.append(second);
    await new Promise((resolve) => second.addEventListener('ready', resolve, { once: true }));
    const classifier = await first.classifier;
    const trap = classifier[Symbol.for('skin-lesion-classifier.trap-for-tests')]().catch((e) => e.name);
    const detail = second.classify(new File([new Uint8Array(bytes)], 'p.jpg', { type: 'image/jpeg' }));
    return { trap: await trap, detail: await detail, status: second.shadowRoot.querySelector('.status').textContent };
  }, bytesOf(photo));
  assert.equal(outcome.trap, 'Crash');
  assert.ok(outcome.detail, `the second widget got no answer: ${outcome.status}`);
  assert.ok(maxDifference(outcome.detail.probabilities, expected[photo].probabilities) < 1e-4);
  // The page's service worker was caching model.bpk while the new worker downloaded it: in
  // Chromium one of the two downloads can fail (ERR_CACHE_WRITE_FAILURE); both are retried.
  const cached = await page.evaluate(async () => {
    const installed = navigator.serviceWorker.ready.then(() => caches.keys());
    const late = new Promise((resolve) => setTimeout(() => resolve(null), 60_000));
    const names = await Promise.race([installed, late]);
    return names && Promise.all(['model.bpk', 'skin-lesion_bg.wasm'].map(async (f) => !!(await caches.match(f))));
  });
  assert.deepEqual(cached, [true, true], 'the page still works offline after the restart');
  await page.context().close();
});

test('a download that fails is tried again: the model loads and classifies', async () => {
  const { page } = await openPage(browser, `${hostServer.origin}/`);
  await page.waitForFunction(() => document.querySelector('skin-lesion-classifier')?.dataset.ready);
  const failures = { 'model.bpk': 0, 'skin-lesion_bg.wasm': 0 };
  // The worker's next download of each file fails once, as a dropped connection would.
  await page.context().route(/\/(model\.bpk|skin-lesion_bg\.wasm)$/, (route) => {
    const file = new URL(route.request().url()).pathname.slice(1);
    failures[file] += 1;
    return failures[file] === 1 ? route.abort('connectionreset') : route.continue();
  });
  const photo = samplePhotos(1)[3];
  const expected = predictJson([photo]);
  const outcome = await page.evaluate(async ({ bytes, origin }) => {
    const { load } = await import(`${origin}/skin-lesion-classifier.js`);
    // Another backend: another worker, which downloads the model and the module again.
    const classifier = await load({ backend: 'auto', model: `${origin}/` });
    return classifier.classify(new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' }));
  }, { bytes: bytesOf(photo), origin: widgetServer.origin });
  assert.deepEqual(failures, { 'model.bpk': 2, 'skin-lesion_bg.wasm': 2 }, 'each file failed once and was downloaded again');
  assert.ok(maxDifference(outcome.probabilities, expected[photo].probabilities) < 1e-4);
  await page.context().close();
});

test('weights that produce NaN are an error, never "NaN% confidence"', async () => {
  const { page } = await openPage(browser, `${hostServer.origin}/`);
  const message = await page.evaluate(() => new Promise((resolve) => {
    const widget = document.createElement('skin-lesion-classifier');
    widget.setAttribute('model', '/nan-model/');
    widget.setAttribute('backend', 'cpu');
    widget.addEventListener('error', (e) => resolve(e.detail.message));
    widget.addEventListener('ready', () => resolve('ready'));
    document.body.append(widget);
  }));
  assert.match(message, /NaN/);
  const text = await page.evaluate(() => document.body.lastElementChild.shadowRoot.textContent);
  assert.doesNotMatch(text, /NaN%/);
  await page.context().close();
});

test('a widget whose model changes stops the old worker and revokes its blob URL', async () => {
  const { page } = await openPage(browser, `${hostServer.origin}/`);
  const workers = [];
  const track = (w) => {
    if (workers.some((entry) => entry.worker === w)) return;
    const entry = { worker: w, url: w.url(), closed: false };
    w.on('close', () => (entry.closed = true));
    workers.push(entry);
  };
  page.on('worker', track);
  await page.waitForFunction(() => document.querySelector('skin-lesion-classifier')?.dataset.ready === 'cpu');
  // The page starts loading in openPage: a worker may have started before the listener above.
  page.workers().forEach(track);
  const first = workers.filter((w) => !w.closed).map((w) => w.url);
  assert.ok(first.length >= 1, 'a worker runs the model');
  await page.evaluate(() => document.querySelector('skin-lesion-classifier').setAttribute('backend', 'auto'));
  await page.waitForFunction(() => document.querySelector('skin-lesion-classifier')?.dataset.ready);
  await page.waitForTimeout(500);
  const old = workers.filter((w) => first.includes(w.url));
  assert.ok(old.every((w) => w.closed), 'the old model\'s worker (and helper) stopped');
  // From another origin the worker starts through a blob: shim, which is released with it.
  const revoked = await page.evaluate(async (urls) => Promise.all(urls.filter((u) => u.startsWith('blob:')).map((u) => fetch(u).then(() => false, () => true))), first);
  assert.ok(revoked.length >= 1 && revoked.every(Boolean), 'the old worker\'s blob URL is revoked');
  await page.context().close();
});

test('the server sends the page\'s CSP as a header, which workers obey', async () => {
  const response = await fetch(`${widgetServer.origin}/classifier-worker.js`);
  const header = response.headers.get('content-security-policy');
  assert.match(header ?? '', /script-src 'self' 'wasm-unsafe-eval'/);
  const html = readFileSync(path.join(DIST, 'index.html'), 'utf8');
  assert.ok(html.includes(header), 'the header is the <meta> policy');
});
