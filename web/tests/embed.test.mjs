// The widget embedded in a foreign page, served from another origin with hostile CSS: two
// widgets work independently, neither is broken by the host's styles nor breaks them, and the
// model is downloaded and loaded once for both.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { DIST, PAGES, artifactPath, launch, maxDifference, openPage, predictJson, samplePhotos, serve, tempDir, uploadAndWait } from './harness.mjs';

let widgetServer;
let hostServer;
let browser;

before(async () => {
  widgetServer = await serve(undefined, { cors: true });
  const site = tempDir('hostile-site-');
  const html = readFileSync(path.join(PAGES, 'hostile.html'), 'utf8').replaceAll('WIDGET_ORIGIN', widgetServer.origin);
  writeFileSync(path.join(site, 'index.html'), html);
  copyFileSync(path.join(PAGES, 'hostile.css'), path.join(site, 'hostile.css'));
  // A model folder whose weights are cut short, as by a broken upload.
  mkdirSync(path.join(site, 'broken-model'));
  copyFileSync(path.join(DIST, 'config.json'), path.join(site, 'broken-model', 'config.json'));
  const weights = readFileSync(path.join(DIST, 'model.bpk'));
  writeFileSync(path.join(site, 'broken-model', 'model.bpk'), weights.subarray(0, weights.length / 3));
  hostServer = await serve(site);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await widgetServer?.close();
  await hostServer?.close();
});

test('two widgets on a foreign page with hostile CSS', async () => {
  assert.notEqual(widgetServer.origin, hostServer.origin);
  const { page, log } = await openPage(browser, `${hostServer.origin}/`);
  await page.waitForFunction(() => ['#first', '#second'].every((s) => document.querySelector(s)?.dataset.ready), null, { timeout: 120_000 });

  const [nv, mel] = [samplePhotos(1)[5], samplePhotos(1)[4]];
  const expected = predictJson([nv, mel]);
  const first = await uploadAndWait(page, nv, '#first');
  const second = await uploadAndWait(page, mel, '#second');
  assert.equal(first.type, 'classified', first.status);
  assert.equal(second.type, 'classified', second.status);
  assert.ok(maxDifference(first.detail.probabilities, expected[nv].probabilities) < 1e-4);
  assert.ok(maxDifference(second.detail.probabilities, expected[mel].probabilities) < 1e-4);

  const look = await page.evaluate(() => {
    const inside = (id, selector) => {
      const node = document.querySelector(id).shadowRoot.querySelector(selector);
      const style = getComputedStyle(node);
      const box = node.getBoundingClientRect();
      return { display: style.display, color: style.color, font: style.fontSize, background: style.backgroundColor, width: box.width, height: box.height };
    };
    return {
      probe: getComputedStyle(document.querySelector('.probe')).color,
      verdicts: ['#first', '#second'].map((id) => document.querySelector(id).shadowRoot.querySelector('.verdict').textContent),
      bars: ['#first', '#second'].map((id) => document.querySelector(id).shadowRoot.querySelectorAll('.bars li').length),
      fill: inside('#first', '.bars li:first-child .fill'),
      text: inside('#first', '.verdict'),
      drop: inside('#second', '.drop'),
      secondWidth: document.querySelector('#second').getBoundingClientRect().width,
      overflow: ['#first', '#second'].map((id) => {
        const widget = document.querySelector(id).shadowRoot.querySelector('.widget');
        return widget.scrollWidth - widget.clientWidth;
      }),
    };
  });
  // The host's styles stay the host's...
  assert.equal(look.probe, 'rgb(1, 2, 3)');
  // ...and do not reach inside the widget.
  assert.deepEqual(look.bars, [7, 7]);
  assert.notEqual(look.verdicts[0], look.verdicts[1], 'each widget shows its own result');
  assert.notEqual(look.text.display, 'none');
  assert.notEqual(look.text.color, 'rgb(255, 0, 0)');
  assert.equal(look.text.font, '17.6px');
  assert.ok(look.fill.width > 0 && look.fill.height > 0, JSON.stringify(look.fill));
  assert.notEqual(look.fill.background, 'rgb(255, 0, 0)');
  assert.ok(look.drop.height > 50, 'the drop zone is visible');
  assert.ok(look.secondWidth <= 340, 'the widget fits a narrow sidebar');
  assert.deepEqual(look.overflow, [0, 0], 'nothing inside the widgets overflows sideways');

  const weights = widgetServer.requests.filter((p) => p === '/model.bpk').length;
  const wasm = widgetServer.requests.filter((p) => p.endsWith('.wasm')).length;
  assert.equal(weights, 1, 'the weights are downloaded once for both widgets');
  assert.equal(wasm, 1, 'one worker runs the model for both widgets');
  // From a foreign origin the worker's helper starts through a blob shim too, and it gets the
  // compiled module and the weights from the worker (the counts above include it).
  // (The photos alternate: choosing the file that is already chosen fires no change event.)
  let [detail, photo] = [second.detail, mel];
  for (let attempt = 0; attempt < 40 && detail.workers !== 2; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    photo = photo === mel ? nv : mel;
    ({ detail } = await uploadAndWait(page, photo, '#second'));
  }
  assert.equal(detail.workers, 2, 'the helper worker never joined');
  assert.ok(maxDifference(detail.probabilities, expected[photo].probabilities) < 1e-4);
  assert.deepEqual(log.warnings, []);
  assert.deepEqual(log.errors, []);
  await page.screenshot({ path: artifactPath('embedded-hostile.png'), fullPage: true });
});

test('a truncated weights file is a clear error, not garbage output', async () => {
  const { page, log } = await openPage(browser, `${hostServer.origin}/`);
  const message = await page.evaluate(() => new Promise((resolve) => {
    const widget = document.createElement('skin-lesion-classifier');
    widget.setAttribute('model', '/broken-model/');
    widget.setAttribute('backend', 'cpu');
    widget.addEventListener('error', (e) => resolve(e.detail.message));
    document.body.append(widget);
  }));
  // Cut short, the weights no longer match the checksum their config.json carries.
  assert.match(message, /config\.json does not belong to this model\.bpk/);
  const status = await page.evaluate(() => document.body.lastElementChild.shadowRoot.querySelector('.status').textContent);
  assert.match(status, /^The model could not be loaded: /);
  assert.ok(!log.errors.some((e) => /RuntimeError|unreachable/.test(e)), log.errors.join('\n'));
  await page.context().close();
});
