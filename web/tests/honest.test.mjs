// Honest answers on the real page: a picture that is not a dermatoscopy photo is refused in
// plain words (its bars behind a control), a HAM10000 photo is not, an unsure answer names its
// two candidates, and the map of where the network looked matches `train-native explain` and
// is drawn over the crop the network saw.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  FIXTURES, ROOT, artifactPath, explainJson, findImage, launch, openPage, predictJson, samplePhotos, serve, uploadAndWait, widgetReady,
} from './harness.mjs';

let server;
let browser;
let page;
let log;
const cat = path.join(FIXTURES, 'chelsea.jpg');
const screenshot = path.join(ROOT, 'web/screenshot.png');

before(async () => {
  server = await serve();
  browser = await launch();
  ({ page, log } = await openPage(browser, `${server.origin}/`, { hideGpu: true }));
  await widgetReady(page);
});

after(async () => {
  await page?.context().close();
  await browser?.close();
  await server?.close();
});

const shown = () => page.evaluate(() => {
  const root = document.querySelector('skin-lesion-classifier').shadowRoot;
  const visible = (s) => !root.querySelector(s).hidden;
  return {
    verdict: root.querySelector('.verdict').textContent,
    ood: visible('.ood'), oodText: root.querySelector('.ood').textContent, bars: visible('.bars'),
  };
});

test('a cat and a screenshot are refused as not dermatoscopy photos, natively and in the browser', async () => {
  const expected = predictJson([cat, screenshot]);
  for (const file of [cat, screenshot]) {
    assert.equal(expected[file].out_of_distribution, true, `${path.basename(file)} natively`);
    const { type, detail } = await uploadAndWait(page, file);
    assert.equal(type, 'classified');
    assert.equal(detail.outOfDistribution, true, `${path.basename(file)} in the browser`);
    const ui = await shown();
    assert.match(ui.verdict, /Not a dermatoscopy photo/);
    assert.match(ui.oodText, /does not look like a dermatoscopy photo of a skin lesion, so the model cannot classify it/);
    assert.ok(ui.ood && !ui.bars, 'the bars are behind the "show anyway" control');
  }
  await page.locator('skin-lesion-classifier .show-anyway').click();
  assert.ok((await shown()).bars, '"show anyway" shows the bars');
  await page.locator('skin-lesion-classifier').screenshot({ path: artifactPath('widget-not-dermatoscopy.png') });
});

test('HAM10000 photos are mostly not refused, and an unsure answer names its two candidates', async (t) => {
  // 40 photos of each class (the report measures the rates; this checks the browser says the
  // same as predict, and that the words fit).
  const photos = samplePhotos(40);
  // At 8 views the shipped model is unsure of 0.3% of photos (threshold 0.30) and of none of
  // those 280, so a validation photo known to be unsure is added: the one validation photo the
  // shipped model is unsure of (top 0.276; found with `train-native evaluate --split val
  // --predictions FILE`, the lowest top probability). A retrained model may be sure of it.
  const knownUnsure = findImage('ISIC_0027010.jpg');
  const expected = predictJson([...photos, knownUnsure]);
  const unsure = [knownUnsure, ...photos].find((p) => expected[p].unsure && !expected[p].out_of_distribution);
  const sure = photos.find((p) => !expected[p].unsure && !expected[p].out_of_distribution);
  const refused = photos.filter((p) => expected[p].out_of_distribution).length;
  assert.ok(refused <= 0.15 * photos.length, `${refused} of ${photos.length} real photos refused`);
  for (const photo of [sure, unsure].filter(Boolean)) {
    const { detail } = await uploadAndWait(page, photo);
    assert.equal(detail.outOfDistribution, false);
    assert.equal(detail.unsure, expected[photo].unsure);
    const ui = await shown();
    assert.ok(!ui.ood && ui.bars);
    if (detail.unsure) {
      assert.match(ui.verdict, /^Unsure between .+ \((akiec|bcc|bkl|df|mel|nv|vasc)\) \(\d+\.\d%\) and .+ \((akiec|bcc|bkl|df|mel|nv|vasc)\) \(\d+\.\d%\)\.$/);
      assert.deepEqual(detail.candidates, [detail.top, expected[photo].unsure_between[1]]);
    } else {
      assert.match(ui.verdict, /^Most likely: /);
    }
  }
  // A retrained model may be sure of every one of these photos: the unsure wording is then not
  // exercised, and the test says so (find another photo as above and name it).
  if (!unsure) t.skip(`none of ${photos.length + 1} photos is unsure for this model: the unsure wording was not checked`);
});

test('the map of where it looked matches train-native explain, and the overlay can be toggled', async () => {
  const [, , , , photo] = samplePhotos(1);
  const native = explainJson([photo])[photo];
  const saliency = page.evaluate(() => new Promise((resolve) => {
    document.querySelector('skin-lesion-classifier').addEventListener('saliency', (e) => resolve({ ...e.detail, map: Array.from(e.detail.map) }), { once: true });
  }));
  const { detail } = await uploadAndWait(page, photo);
  const map = await saliency;
  assert.equal(detail.top, native.top);
  assert.equal(map.side, native.side);
  const diff = Math.max(...map.map.map((v, i) => Math.abs(v - native.map[i])));
  assert.ok(diff < 1e-3, `the browser's map differs from explain --json by ${diff}`);
  const where = page.locator('skin-lesion-classifier .where');
  assert.equal(await where.isEnabled(), true);
  const before = await page.locator('skin-lesion-classifier .crop').screenshot();
  await where.click();
  assert.equal(await where.getAttribute('aria-pressed'), 'true');
  const after = await page.locator('skin-lesion-classifier .crop').screenshot({ path: artifactPath('saliency-overlay.png') });
  assert.notDeepEqual(before, after, 'the overlay changes the picture');
  await page.locator('skin-lesion-classifier').screenshot({ path: artifactPath('widget-saliency.png') });
  assert.deepEqual(log.errors, []);
});
