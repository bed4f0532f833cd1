// Accessibility and phones: axe-core finds no serious or critical violation on the page after a
// classification (widget included), and at phone width the verdict is brought into view.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { artifactPath, launch, openPage, samplePhotos, serve, uploadAndWait, widgetReady } from './harness.mjs';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
let server;
let browser;

before(async () => {
  server = await serve();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('axe finds no serious or critical violation after a classification', async () => {
  // The page's CSP refuses injected scripts: axe runs with the policy bypassed in this context.
  const { page, context } = await openPage(browser, `${server.origin}/`, { hideGpu: true, bypassCSP: true });
  await page.waitForSelector('#report[data-rendered]');
  await widgetReady(page);
  assert.equal((await uploadAndWait(page, samplePhotos(1)[4])).type, 'classified');
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  const serious = violations.filter((v) => ['serious', 'critical'].includes(v.impact));
  assert.deepEqual(serious, [], JSON.stringify(serious, null, 2));
  await context.close();
});

test('at phone width the verdict is brought into view after a photo is chosen', async () => {
  const { page, context } = await openPage(browser, `${server.origin}/`, { hideGpu: true, viewport: { width: 375, height: 740 } });
  await widgetReady(page);
  assert.equal((await uploadAndWait(page, samplePhotos(1)[0])).type, 'classified');
  await page.waitForFunction(() => {
    const verdict = document.querySelector('skin-lesion-classifier').shadowRoot.querySelector('.verdict').getBoundingClientRect();
    return verdict.top >= 0 && verdict.bottom <= window.innerHeight;
  }, null, { timeout: 5000 });
  await page.screenshot({ path: artifactPath('phone-verdict.png') });
  await context.close();
});
