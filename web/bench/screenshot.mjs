// Redraws the README's picture of the page, web/screenshot.png: the built page (dist/) in the
// tests' headless Chromium on the CPU, its widget after classifying the synthetic picture the
// model warms up on (src/web/warmup.jpg: a blurred brown blob, never a patient's photo) with
// the patient form open and a made-up patient's age, sex and body site filled in. The blob is
// refused as not a dermatoscopy photo, as it should be; the picture shows the answer anyway.
//
//   node web/build.mjs && node web/bench/screenshot.mjs
import path from 'node:path';
import { ROOT, launch, openPage, serve, uploadAndWait, widgetReady } from '../tests/harness.mjs';

const PHOTO = path.join(ROOT, 'src/web/warmup.jpg');
const OUT = path.join(ROOT, 'web/screenshot.png');

const server = await serve();
const browser = await launch();
try {
  const { page } = await openPage(browser, `${server.origin}/`, { hideGpu: true, viewport: { width: 1100, height: 1700 } });
  await widgetReady(page);
  const outcome = await uploadAndWait(page, PHOTO);
  if (outcome.type !== 'classified') throw new Error(`the picture was not classified: ${outcome.status}`);
  // A made-up patient; each change answers again, so wait for the last answer.
  const answered = page.evaluate(() => new Promise((resolve) => {
    const widget = document.querySelector('skin-lesion-classifier');
    const root = widget.shadowRoot;
    widget.addEventListener('classified', (e) => e.detail.patientData === 'age, sex, body site' && resolve(), { once: false });
    root.querySelector('.patient').open = true;
    for (const [field, value] of [['age', '45'], ['sex', 'female'], ['site', 'back']]) {
      const input = root.querySelector(`.${field}`);
      input.value = value;
      input.dispatchEvent(new Event('change'));
    }
  }));
  await answered;
  const bottom = await page.evaluate(() => {
    const root = document.querySelector('skin-lesion-classifier').shadowRoot;
    root.querySelector('.show-anyway').click();
    window.scrollTo(0, 0);
    return Math.ceil(root.querySelector('.disclaimer').getBoundingClientRect().bottom) + 24;
  });
  await page.screenshot({ path: OUT, clip: { x: 0, y: 0, width: 1100, height: bottom } });
  console.log(`wrote ${path.relative(ROOT, OUT)}`);
} finally {
  await browser.close();
  await server.close();
}
