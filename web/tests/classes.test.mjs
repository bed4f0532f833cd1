// A model with classes of its own: the widget, its `classified` event and the Classifier show
// that model's classes (from its config.json), not HAM10000's seven.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fixtures, hostSite, launch, openPage, samplePhotos, serve } from './harness.mjs';

let widgetServer;
let hostServer;
let browser;

before(async () => {
  widgetServer = await serve(undefined, { cors: true });
  hostServer = await hostSite(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>host</title>
<link rel="icon" href="data:,"><script type="module" src="${widgetServer.origin}/skin-lesion-classifier.js"></script></head>
<body><skin-lesion-classifier model="/three/" backend="cpu"></skin-lesion-classifier></body></html>`, { three: fixtures().threeClassModel });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await widgetServer?.close();
  await hostServer?.close();
});

test('a model of three classes shows three bars with its own names, and no patient form', async () => {
  const { page, log } = await openPage(browser, `${hostServer.origin}/`);
  await page.waitForFunction(() => document.querySelector('skin-lesion-classifier')?.dataset.ready, null, { timeout: 60_000 });
  const photo = Array.from(readFileSync(samplePhotos(1)[0]));
  const outcome = await page.evaluate(async (bytes) => {
    const widget = document.querySelector('skin-lesion-classifier');
    const event = new Promise((resolve) => widget.addEventListener('classified', (e) => resolve(e.detail), { once: true }));
    await widget.classify(new File([new Uint8Array(bytes)], 'p.jpg', { type: 'image/jpeg' }));
    const bars = [...widget.shadowRoot.querySelectorAll('.bars li')].map((li) => ({
      code: li.dataset.code, name: li.querySelector('.name').textContent, title: li.title,
    }));
    const classifier = await widget.classifier;
    let refused = 'none';
    await classifier.classify(new File([new Uint8Array(bytes)], 'p.jpg'), { patient: { age: 50 } }).catch((e) => (refused = e.message));
    return {
      bars,
      detail: await event,
      classes: classifier.classes,
      verdict: widget.shadowRoot.querySelector('.verdict').textContent,
      patient: { fields: classifier.patientFields, formHidden: widget.shadowRoot.querySelector('.patient').hidden, refused },
    };
  }, photo);
  // Without patient tables: no form, and patient data given through the API is refused.
  assert.deepEqual(outcome.patient, { fields: null, formHidden: true, refused: 'this model has no patient tables: it answers from the photo alone' });
  assert.equal(outcome.detail.patientData, null);
  assert.deepEqual(outcome.classes.map((c) => c.code), ['scc', 'ak', 'seb'], 'the model\'s order');
  assert.deepEqual(outcome.bars.map((b) => b.code).sort(), ['ak', 'scc', 'seb']);
  const names = Object.fromEntries(outcome.bars.map((b) => [b.code, b.name]));
  assert.deepEqual(names, { scc: 'Squamous cell carcinoma', ak: 'Actinic keratosis', seb: 'Seborrhoeic keratosis' });
  assert.equal(outcome.bars.find((b) => b.code === 'seb').title, 'A harmless warty growth of older skin.');
  assert.deepEqual(Object.keys(outcome.detail.probabilities).sort(), ['ak', 'scc', 'seb']);
  const total = Object.values(outcome.detail.probabilities).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(total - 1) < 1e-5, `probabilities sum to ${total}`);
  assert.ok(['scc', 'ak', 'seb'].includes(outcome.detail.top));
  assert.match(outcome.verdict, /Squamous cell carcinoma|Actinic keratosis|Seborrhoeic keratosis/);
  assert.ok(!log.errors.some((e) => /Uncaught/.test(e)), log.errors.join('\n'));
  await page.context().close();
});
