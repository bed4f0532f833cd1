// The page itself: the evaluation report renders every section from report.json, the page works at
// phone width and from the keyboard, runs under its CSP with no console errors, and screenshots of
// it are saved as test artifacts (web/tests/artifacts/, or $ARTIFACTS_DIR).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { DIST, artifactPath, launch, openPage, samplePhotos, serve, uploadAndWait, widgetReady } from './harness.mjs';

let server;
let browser;
const report = JSON.parse(readFileSync(path.join(DIST, 'report.json'), 'utf8'));

before(async () => {
  server = await serve();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('the report renders every section from report.json', async () => {
  const { page, log } = await openPage(browser, `${server.origin}/`);
  await page.waitForSelector('#report[data-rendered]');
  await widgetReady(page);
  const shown = await page.evaluate(() => ({
    figures: [...document.querySelectorAll('#headline .figure')].map((f) => [f.querySelector('dt').textContent, f.querySelector('dd').textContent, f.querySelector('.note')?.textContent ?? null]),
    perClass: [...document.querySelectorAll('#per-class tbody tr')].map((tr) => [...tr.children].map((c) => c.textContent)),
    plots: Object.fromEntries([...document.querySelectorAll('#report img.plot')].map((img) => [new URL(img.src).pathname, img.alt])),
    sections: Object.fromEntries(['calibration', 'ood', 'selective', 'saliency', 'robustness'].map((id) => [id, document.querySelector(`#${id}`).textContent])),
    card: Object.fromEntries([...document.querySelectorAll('#model-card dt')].map((dt) => [dt.textContent, dt.nextElementSibling.textContent])),
    status: document.querySelector('.report-status')?.textContent ?? null,
    warning: document.querySelector('.warning').textContent,
    oodWarnings: document.querySelectorAll('#ood .ood-warning').length,
  }));
  assert.equal(shown.status, null, 'the loading message is gone');
  const figures = Object.fromEntries(shown.figures.map(([name, value]) => [name, value]));
  const notes = Object.fromEntries(shown.figures.map(([name, , note]) => [name, note]));
  assert.equal(figures['Balanced accuracy'], report.balanced_accuracy.toFixed(3));
  const interval = report.intervals.balanced_accuracy.map((x) => x.toFixed(3)).join('–');
  assert.equal(notes['Balanced accuracy'], `95% interval ${interval}`);
  assert.equal(figures['Macro F1'], report.macro_f1.toFixed(3));
  assert.equal(figures['Accuracy'], report.accuracy.toFixed(3));
  assert.equal(figures['Macro AUC'], report.macro_auc.toFixed(3));
  assert.equal(figures['Test photos'], report.confusion_matrix.flat().reduce((a, b) => a + b).toLocaleString('en'));
  // The charts are the SVG files train-native drew, each described in words.
  assert.deepEqual(Object.keys(shown.plots).sort(), ['/confusion_matrix.svg', '/reliability.svg', '/risk_coverage.svg', '/training_curves.svg']);
  const diagonal = report.classes.map((c, i) => `${c}: ${report.confusion_matrix[i][i]} of`);
  for (const cell of diagonal) assert.ok(shown.plots['/confusion_matrix.svg'].includes(cell), `the confusion matrix's alt text has ${cell}`);
  const loaded = await page.evaluate(async () => Promise.all([...document.querySelectorAll('#report img.plot')].map(async (img) => {
    img.loading = 'eager';
    await img.decode();
    return img.naturalWidth > 0;
  })));
  assert.ok(loaded.every(Boolean), 'every plot loads');
  // Each section of the honest answers states its figures in a plain sentence.
  assert.match(shown.sections.calibration, new RegExp(`off by ${(100 * report.ece).toFixed(1)}%`));
  assert.match(shown.sections.ood, new RegExp(`refuses ${(100 * report.ood.test_flagged).toFixed(1)}% of the test split`));
  assert.match(shown.sections.selective, new RegExp(`answers ${(100 * report.selective.test_coverage).toFixed(1)}% of test photos`));
  assert.match(shown.sections.saliency, /(points at the lesion more often|does not beat a blob at the centre)/);
  assert.match(shown.sections.robustness, new RegExp(`${report.robustness.mean_balanced_accuracy.toFixed(3)} on average`));
  const warm = report.robustness.warm_cast_every_view;
  if (warm) assert.match(shown.sections.robustness, new RegExp(`at every view, as the widget answers: balanced accuracy ${warm.balanced_accuracy.toFixed(3)}`));
  if (warm?.ece != null) assert.match(shown.sections.robustness, new RegExp(`calibration error ${warm.ece.toFixed(3)}`));
  if (report.robustness.refusal_photos) {
    assert.match(shown.sections.robustness, new RegExp(`fixed sample of ${report.robustness.refusal_photos} of the test photos`));
    const [first] = report.robustness.corruptions;
    const row = `${first.macro_f1.toFixed(3)}${first.ece.toFixed(3)}${(100 * first.flagged).toFixed(1)}%`;
    assert.ok(shown.sections.robustness.includes(row), `the table's first row has its ECE and share refused (${row})`);
  }
  assert.equal(shown.perClass.length, 7);
  for (const [i, code] of report.classes.entries()) {
    const row = shown.perClass[i];
    assert.ok(row[0].endsWith(code));
    assert.notEqual(row[0].trim(), `${code} ${code}`, 'full class names are filled in');
    assert.equal(row[1], report.per_class[code].precision.toFixed(2));
    assert.equal(row[2], report.per_class[code].recall.toFixed(2));
    assert.equal(row[3], report.per_class[code].f1.toFixed(2));
    assert.equal(Number(row[4]), report.per_class[code].support);
  }
  for (const key of ['Architecture', 'Input', 'Parameters', 'Data set', 'Split', 'Training', 'Model selection', 'Patient data', 'Known limits']) {
    assert.ok(shown.card[key], `model card has ${key}`);
  }
  assert.match(shown.card['Data set'], /CC BY-NC-SA 4\.0/);
  assert.match(shown.card['Split'], /lesion_id/);
  assert.match(shown.card['Parameters'], new RegExp(report.model.parameters.toLocaleString('en')));
  assert.match(shown.card['Known limits'], /not a medical device/);
  // The shipped model's own counts: 6,705 of HAM10000's 10,015 photos are nevi, 115 dermatofibromas.
  assert.match(shown.card['Known limits'], /67% of its 10,015 photos are nv, and the rarest class, df, has 115\. HAM10000's patients are mostly fair-skinned\./);
  if (report.model.starting_weights) {
    const start = report.model.starting_weights;
    assert.match(shown.card['Starting weights'], new RegExp(`${start.package} ${start.version} \\(licence ${start.licence}\\)`));
  } else {
    assert.equal(shown.card['Starting weights'], undefined, 'a model trained from scratch names no starting weights');
  }
  assert.match(shown.card['Model selection'], new RegExp(`balanced accuracy ${report.model.validation.balanced_accuracy.toFixed(3)}`));
  if (report.model.decision_offsets) {
    const vasc = report.model.decision_offsets.offsets[report.classes.indexOf('vasc')];
    assert.match(shown.card['Model selection'], new RegExp(`vasc ${vasc >= 0 ? '\\+' : '−'}${Math.abs(vasc).toFixed(1)}`));
  }
  if (report.patient) {
    const p = report.patient;
    const figure = p.weight === 0 ? p.candidates[0].objective : p.test.balanced_accuracy;
    assert.match(shown.card['Patient data'], new RegExp(figure.toFixed(3)));
  }
  assert.match(shown.warning, /Not a medical device/);
  assert.equal(shown.oodWarnings, report.ood?.warnings?.length ?? 0);

  const [photo] = samplePhotos(1).slice(4);
  assert.equal((await uploadAndWait(page, photo)).type, 'classified');
  await page.screenshot({ path: artifactPath('page.png'), fullPage: true });
  await page.screenshot({ path: artifactPath('page-top.png') });
  await page.locator('#report').screenshot({ path: artifactPath('report.png') });
  await page.locator('skin-lesion-classifier').screenshot({ path: artifactPath('widget.png') });
  assert.deepEqual(log.errors, []);
  assert.deepEqual(log.violations, []);
  await page.context().close();
});

test('a model whose out-of-distribution check falls short says so on the report', async () => {
  const warnings = ['it refuses 23.8% of the validation photos of vasc (5 of 21), over the rule\'s 15% for a class'];
  const routes = (context) => context.route(/\/report\.json$/, (route) => route.fulfill({
    contentType: 'application/json',
    body: JSON.stringify({ ...report, ood: { ...report.ood, warnings } }),
  }));
  const { page, log } = await openPage(browser, `${server.origin}/`, { routes });
  await page.waitForSelector('#report[data-rendered]');
  const shown = await page.$$eval('#ood .ood-warning', (ps) => ps.map((p) => p.textContent));
  assert.deepEqual(shown, [`This model's check falls short: ${warnings[0]}.`]);
  assert.deepEqual(log.errors, []);
  await page.context().close();
});

test('a model that shipped its last epoch says which on the report', async () => {
  const model = { ...report.model, last_epoch_shipped: report.history.length };
  const routes = (context) => context.route(/\/report\.json$/, (route) => route.fulfill({
    contentType: 'application/json',
    body: JSON.stringify({ ...report, model }),
  }));
  const { page, log } = await openPage(browser, `${server.origin}/`, { routes });
  await page.waitForSelector('#report[data-rendered]');
  const training = await page.evaluate(() => [...document.querySelectorAll('#model-card dt')]
    .find((dt) => dt.textContent === 'Training').nextElementSibling.textContent);
  const last = `those of the last epoch, ${report.history.length} (epoch ${report.model.best_epoch} was the best on validation at one view)`;
  assert.ok(training.includes(last), training);
  assert.deepEqual(log.errors, []);
  await page.context().close();
});

test('the page has a strict Content-Security-Policy', () => {
  const html = readFileSync(path.join(DIST, 'index.html'), 'utf8');
  const csp = html.match(/http-equiv="Content-Security-Policy" content="([^"]+)"/)?.[1];
  assert.ok(csp, 'index.html sets a CSP');
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/);
  assert.doesNotMatch(csp, /unsafe-inline|'unsafe-eval'/);
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  assert.doesNotMatch(html, /\sstyle="/, 'no inline style');
});

test('phone width: nothing overflows sideways and the widget still classifies', async () => {
  const { page, log } = await openPage(browser, `${server.origin}/`, { viewport: { width: 375, height: 740 } });
  await page.waitForSelector('#report[data-rendered]');
  await widgetReady(page);
  const [photo] = samplePhotos(1);
  assert.equal((await uploadAndWait(page, photo)).type, 'classified');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone screen`);
  await page.screenshot({ path: artifactPath('page-phone.png'), fullPage: true });
  assert.deepEqual(log.errors, []);
  await page.context().close();
});

test('keyboard: Tab reaches the widget\'s file input, which opens the file chooser', async () => {
  const { page } = await openPage(browser, `${server.origin}/`);
  // Playwright turns file-chooser interception on when the first listener is added, by a message
  // to the browser that a key press right after can overtake: add one long before the press.
  const choosers = [];
  page.on('filechooser', (chooser) => choosers.push(chooser));
  await widgetReady(page);
  let focused = null;
  for (let i = 0; i < 10 && focused !== 'file'; i++) {
    await page.keyboard.press('Tab');
    focused = await page.evaluate(() => document.activeElement?.shadowRoot?.activeElement?.className ?? null);
  }
  assert.equal(focused, 'file', 'the file input is reachable by Tab');
  const outline = await page.evaluate(() => getComputedStyle(document.querySelector('skin-lesion-classifier').shadowRoot.querySelector('.drop')).outlineStyle);
  assert.equal(outline, 'solid', 'the drop zone shows focus');
  await page.keyboard.press('Space');
  for (let i = 0; i < 100 && choosers.length === 0; i++) await page.waitForTimeout(100);
  assert.equal(choosers.length, 1, 'Space on the focused file input opens one file chooser');
  assert.equal(choosers[0].isMultiple(), false);
  await page.context().close();
});
