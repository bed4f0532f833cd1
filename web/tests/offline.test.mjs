// The page after its first visit: with the network off it reloads and classifies a photo, and
// once online again a new model is picked up on the first reload (and then cached instead of
// the old one). The page is served from a copy of dist/, so the test can publish a new model.
import assert from 'node:assert/strict';
import { cpSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { DIST, fixtures, launch, maxDifference, openPage, predictJson, samplePhotos, serve, tempDir, uploadAndWait, widgetReady } from './harness.mjs';

let root;
let server;
let browser;

before(async () => {
  root = tempDir('offline-dist-');
  cpSync(DIST, root, { recursive: true });
  server = await serve(root);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** Wait until the service worker controls the page and has cached its files. */
async function installed(page) {
  await page.evaluate(async () => {
    const registration = await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
    }
    return registration.active.scriptURL;
  });
}

/** The checksum of the model the page's widget runs. */
const checksum = (page) => page.evaluate(async () => (await document.querySelector('skin-lesion-classifier').classifier).checksum);

test('after one visit the page reloads and classifies with the network off', async () => {
  const { page, context, log } = await openPage(browser, `${server.origin}/`, { hideGpu: true });
  await widgetReady(page);
  await installed(page);
  await context.setOffline(true);
  await page.reload();
  assert.equal(await widgetReady(page), 'cpu');
  await page.waitForSelector('#report[data-rendered]');
  const photo = samplePhotos(1)[3];
  const { type, detail } = await uploadAndWait(page, photo);
  assert.equal(type, 'classified');
  assert.ok(maxDifference(detail.probabilities, predictJson([photo])[photo].probabilities) < 1e-4);
  assert.deepEqual(log.errors.filter((e) => !/ERR_INTERNET_DISCONNECTED/.test(e)), []);
  await context.close();
});

test('a new model is used on the first reload once online, and cached in place of the old one', async () => {
  const { page, context } = await openPage(browser, `${server.origin}/`, { hideGpu: true });
  await widgetReady(page);
  await installed(page);
  const old = await checksum(page);
  // Publish another model version on the server.
  const other = fixtures().otherModel;
  for (const file of ['config.json', 'model.bpk']) cpSync(path.join(other, file), path.join(root, file));
  const fresh = JSON.parse(readFileSync(path.join(other, 'config.json'), 'utf8')).checksum;
  assert.notEqual(fresh, old);
  await page.reload();
  await widgetReady(page);
  assert.equal(await checksum(page), fresh, 'the first reload online uses the new model');
  // The new model's service worker replaces the old cache: offline, the new model still loads.
  await page.waitForFunction((sum) => navigator.serviceWorker.controller?.scriptURL.includes(sum), fresh, { timeout: 60_000 });
  // The old model's cache is deleted once the new worker has taken over.
  await page.waitForFunction((name) => caches.keys().then((keys) => keys.length === 1 && keys[0] === name), `skin-lesion-${fresh}`, { timeout: 30_000 });
  await context.setOffline(true);
  await page.reload();
  await widgetReady(page);
  assert.equal(await checksum(page), fresh);
  await context.close();
});
