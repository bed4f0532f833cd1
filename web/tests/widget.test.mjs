// The widget on the real page, in Debian's Chromium: real HAM10000 photos give the same
// probabilities as `train-native predict --json` on WebGPU and on the CPU fallback, odd photos
// work, broken ones are refused clearly and the widget keeps working, and nothing leaves the origin.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  CLASSES, fixtures, launch, maxDifference, openPage, predictJson, samplePhotos, serve, uploadAndWait, widgetReady,
} from './harness.mjs';

const TOLERANCE = 1e-4;
let server;
let browser;
let photos;
let expected;
let oddAndBroken;

before(async () => {
  server = await serve();
  browser = await launch();
  photos = samplePhotos(1);
  oddAndBroken = fixtures();
  expected = predictJson([...photos, ...oddAndBroken.ok]);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

function assertSameOrigin(log) {
  const foreign = log.requests.filter((url) => !url.startsWith(server.origin) && !/^(blob|data):/.test(url));
  assert.deepEqual(foreign, [], 'requests left the origin');
}

async function checkPhotos(page, files, backend) {
  for (const file of files) {
    const { type, detail, status } = await uploadAndWait(page, file);
    assert.equal(type, 'classified', `${path.basename(file)}: ${status}`);
    assert.equal(detail.backend, backend);
    assert.ok(detail.ms > 0);
    // A helper worker takes half of the views only on the CPU, once it has loaded.
    assert.ok(backend === 'cpu' ? [1, 2].includes(detail.workers) : detail.workers === 1, `workers ${detail.workers}`);
    assert.deepEqual(Object.keys(detail.probabilities).sort(), CLASSES);
    const reference = expected[file];
    assert.ok(reference?.probabilities, `no reference for ${file}: ${JSON.stringify(reference)}`);
    const diff = maxDifference(detail.probabilities, reference.probabilities);
    assert.ok(diff < TOLERANCE, `${path.basename(file)} on ${backend}: differs from predict --json by ${diff}`);
    assert.equal(detail.top, reference.top);
    assert.equal(detail.outOfDistribution, reference.out_of_distribution, `${path.basename(file)}: out of distribution`);
    assert.equal(detail.unsure, reference.unsure, `${path.basename(file)}: unsure`);
    const relative = Math.abs(detail.oodScore - reference.ood_score) / Math.max(1, Math.abs(reference.ood_score));
    assert.ok(relative < 1e-3, `${path.basename(file)}: out-of-distribution score ${detail.oodScore} vs ${reference.ood_score}`);
  }
}

// Headless Chromium's only WebGPU adapter is SwiftShader, a software GPU that `auto` skips as
// slower than the CPU path; the WebGPU suite asks for it with backend="webgpu".
for (const { name, hideGpu, attribute, backend } of [
  { name: 'WebGPU (SwiftShader)', hideGpu: false, attribute: 'webgpu', backend: 'webgpu' },
  { name: 'CPU fallback (navigator.gpu hidden)', hideGpu: true, attribute: 'auto', backend: 'cpu' },
]) {
  describe(`the page's widget on ${name}`, () => {
    let page;
    let log;
    before(async () => {
      ({ page, log } = await openPage(browser, `${server.origin}/`, { hideGpu }));
      await widgetReady(page);
      await page.evaluate((b) => document.querySelector('skin-lesion-classifier').setAttribute('backend', b), attribute);
      assert.equal(await widgetReady(page), backend);
    });
    after(() => page.context().close());

    test('real HAM10000 photos, one per class, match predict --json', async () => {
      await checkPhotos(page, photos, backend);
      const shown = await page.evaluate(() => {
        const root = document.querySelector('skin-lesion-classifier').shadowRoot;
        return {
          bars: root.querySelectorAll('.bars li').length,
          verdict: root.querySelector('.verdict').textContent,
          meta: root.querySelector('.meta').textContent,
          disclaimer: root.querySelector('.disclaimer').textContent,
          preview: !root.querySelector('.preview').hidden,
        };
      });
      assert.equal(shown.bars, 7);
      assert.match(shown.verdict, /(Most likely: .+ \((akiec|bcc|bkl|df|mel|nv|vasc)\), with \d+\.\d% confidence|Unsure between .+ and .+)/);
      assert.match(shown.meta, backend === 'webgpu' ? /WebGPU/ : /CPU/);
      assert.match(shown.meta, /\d+\.\d ms/);
      assert.match(shown.disclaimer, /Not a diagnosis/);
      assert.ok(shown.preview, 'the photo preview is shown');
    });

    test('on the CPU a helper worker runs half of the views, and the answer stays the same', { skip: backend !== 'cpu' }, async () => {
      // The photos alternate: choosing the file that is already chosen fires no change event.
      let detail;
      let photo;
      for (let attempt = 0; attempt < 40 && detail?.workers !== 2; attempt++) {
        if (attempt) await new Promise((resolve) => setTimeout(resolve, 250));
        photo = photos[1 + (attempt % 2)];
        ({ detail } = await uploadAndWait(page, photo));
      }
      assert.equal(detail.workers, 2, 'the helper worker never joined');
      const diff = maxDifference(detail.probabilities, expected[photo].probabilities);
      assert.ok(diff < TOLERANCE, `with the helper: differs from predict --json by ${diff}`);
      assert.deepEqual(log.warnings.filter((w) => /helper/.test(w)), [], 'the helper worker warned');
    });

    test('the patient form answers again when a field changes, as predict --age --sex --site does', { skip: backend !== 'cpu' }, async () => {
      const photo = photos[4];
      const withPatient = predictJson([photo], ['--age', '70', '--sex', 'male', '--site', 'back'])[photo];
      assert.equal(withPatient.patient_data, 'age, sex, body site');
      const { detail: first } = await uploadAndWait(page, photo);
      assert.equal(first.photoMs, first.ms, 'a classify times the network over the photo');
      /** Set a field of the form as a person would and wait for the widget's next answer. */
      const change = (field, value) => page.evaluate(({ field, value }) => new Promise((resolve) => {
        const widget = document.querySelector('skin-lesion-classifier');
        const root = widget.shadowRoot;
        widget.addEventListener('classified', (e) => resolve({
          detail: e.detail,
          meta: root.querySelector('.meta').textContent,
          formShown: !root.querySelector('.patient').hidden,
          sites: root.querySelector('.site').options.length,
        }), { once: true });
        const input = root.querySelector(`.${field}`);
        input.value = value;
        input.dispatchEvent(new Event('change'));
      }), { field, value });
      await change('age', '70');
      await change('sex', 'male');
      const shown = await change('site', 'back');
      assert.ok(shown.formShown, 'the shipped model has patient tables: the form is shown');
      assert.equal(shown.sites, 15, 'every body site and "not given"');
      assert.equal(shown.detail.patientData, 'age, sex, body site');
      // The network did not run again: the line keeps the photo's time and says so.
      assert.equal(shown.detail.photoMs, first.photoMs);
      assert.ok(shown.detail.ms < first.photoMs, `answered again in ${shown.detail.ms} ms`);
      assert.equal(shown.meta, `Ran on the CPU (WebAssembly) in ${first.photoMs.toFixed(1)} ms; answered again in ${shown.detail.ms.toFixed(1)} ms with the patient's age, sex, body site.`);
      const diff = maxDifference(shown.detail.probabilities, withPatient.probabilities);
      assert.ok(diff < TOLERANCE, `with patient data: differs from predict --json by ${diff}`);
      assert.equal(shown.detail.top, withPatient.top);
      assert.equal(shown.detail.unsure, withPatient.unsure);
      // An age out of range is refused in words and answers nothing; emptied fields give the photo's answer.
      const refused = await page.evaluate(() => {
        const root = document.querySelector('skin-lesion-classifier').shadowRoot;
        const age = root.querySelector('.age');
        age.value = '200';
        age.dispatchEvent(new Event('change'));
        return { status: root.querySelector('.status').textContent, invalid: age.getAttribute('aria-invalid') };
      });
      assert.deepEqual(refused, { status: 'The age must be a whole number of years from 0 to 120.', invalid: 'true' });
      await change('age', '');
      await change('sex', '');
      const cleared = await change('site', '');
      assert.equal(cleared.detail.patientData, null);
      assert.match(cleared.meta, /; answered again in \d+\.\d ms without patient data\.$/);
      assert.ok(maxDifference(cleared.detail.probabilities, expected[photo].probabilities) < TOLERANCE);
    });

    test('answerAgain answers a photo with other patient data as classify does, and only the photo its model still holds', { skip: backend !== 'cpu' }, async () => {
      const [first, second] = [photos[4], photos[0]].map((p) => Array.from(readFileSync(p)));
      const r = await page.evaluate(async ({ first, second, backend }) => {
        const { load } = await import('/skin-lesion-classifier.js');
        const classifier = await load({ backend });
        const file = (bytes) => new File([new Uint8Array(bytes)], 'p.jpg', { type: 'image/jpeg' });
        const patient = { age: 70, sex: 'male', site: 'back' };
        const errorOf = (promise) => promise.then(() => null, (e) => ({ name: e.name, message: e.message }));
        const plain = await classifier.classify(file(first));
        const again = await classifier.answerAgain(plain, { patient });
        const againAgain = await classifier.answerAgain(again, {});
        const direct = await classifier.classify(file(first), { patient });
        await classifier.classify(file(second));
        return {
          plain, again, againAgain, direct,
          stale: await errorOf(classifier.answerAgain(direct, { patient })),
          foreign: await errorOf(classifier.answerAgain({ ...plain }, { patient })),
        };
      }, { first, second, backend: attribute });
      assert.equal(r.again.patientData, 'age, sex, body site');
      assert.equal(r.plain.photoMs, r.plain.ms);
      assert.equal(r.again.photoMs, r.plain.photoMs, 'photoMs names the classify that ran the network');
      assert.equal(r.againAgain.photoMs, r.plain.photoMs);
      assert.ok(maxDifference(r.again.probabilities, r.direct.probabilities) < 1e-6, 'answerAgain differs from classify with the same patient');
      assert.equal(r.again.top, r.direct.top);
      assert.equal(r.againAgain.patientData, null);
      assert.ok(maxDifference(r.againAgain.probabilities, r.plain.probabilities) < 1e-6, 'no patient data again is the photo\'s own answer');
      assert.equal(r.stale?.name, 'InputError', 'another photo classified since: its views are gone');
      assert.match(r.stale.message, /classify it again/);
      assert.deepEqual(r.foreign, { name: 'InputError', message: 'answerAgain takes an answer this model gave' });
    });

    test('grayscale, alpha, CMYK, 16-bit and EXIF-rotated photos match predict --json', async () => {
      await checkPhotos(page, oddAndBroken.ok, backend);
    });

    test('broken files are refused with a clear message and the widget keeps working', async () => {
      const messages = {
        'empty.jpg': /empty/, 'not-an-image.jpg': /not a supported image/, 'truncated.jpg': /truncated/,
        'corrupt.png': /could not be decoded/, 'huge.png': /too large/,
      };
      for (const file of oddAndBroken.bad) {
        const { type, detail, status } = await uploadAndWait(page, file);
        assert.equal(type, 'error', `${path.basename(file)} was classified`);
        assert.match(detail.message, messages[path.basename(file)], path.basename(file));
        assert.match(status, /^Could not classify this photo: /);
        await checkPhotos(page, [photos[0]], backend);
      }
    });

    test('the JavaScript API classifies Blobs, ImageBitmaps and ImageData alike', async () => {
      const results = await page.evaluate(async (backend) => {
        const { load } = await import('/skin-lesion-classifier.js');
        const classifier = await load({ backend });
        // A lossless PNG drawn in the page, classified as a Blob, an ImageBitmap and ImageData.
        const canvas = new OffscreenCanvas(160, 120);
        const g = canvas.getContext('2d');
        g.fillStyle = '#d9a08f';
        g.fillRect(0, 0, 160, 120);
        g.fillStyle = '#5a3a2c';
        g.beginPath();
        g.ellipse(80, 60, 38, 30, 0.3, 0, 2 * Math.PI);
        g.fill();
        const blob = await canvas.convertToBlob({ type: 'image/png' });
        const bitmap = await createImageBitmap(blob);
        const data = g.getImageData(0, 0, 160, 120);
        let refused = null;
        try {
          await classifier.classify('not a photo');
        } catch (e) {
          refused = e.message;
        }
        return {
          blob: await classifier.classify(blob),
          bitmap: await classifier.classify(bitmap),
          data: await classifier.classify(data),
          refused,
        };
      }, attribute);
      assert.ok(maxDifference(results.blob.probabilities, results.data.probabilities) < TOLERANCE);
      assert.ok(maxDifference(results.blob.probabilities, results.bitmap.probabilities) < TOLERANCE);
      assert.equal(results.blob.backend, backend);
      assert.match(results.refused, /takes a Blob, File, ImageBitmap or ImageData/);
    });

    test('a dropped photo and a pasted photo are classified like an uploaded one', async () => {
      const [photo] = photos;
      const bytes = Array.from(readFileSync(photo));
      const results = await page.evaluate(async (bytes) => {
        const widget = document.querySelector('skin-lesion-classifier');
        const file = new File([new Uint8Array(bytes)], 'photo.jpg', { type: 'image/jpeg' });
        const next = () => new Promise((resolve) => widget.addEventListener('classified', (e) => resolve(e.detail), { once: true }));
        const data = () => {
          const transfer = new DataTransfer();
          transfer.items.add(file);
          return transfer;
        };
        const drop = widget.shadowRoot.querySelector('.drop');
        let done = next();
        drop.dispatchEvent(new DragEvent('drop', { dataTransfer: data(), bubbles: true, composed: true, cancelable: true }));
        const dropped = await done;
        done = next();
        widget.shadowRoot.querySelector('input').dispatchEvent(new ClipboardEvent('paste', { clipboardData: data(), bubbles: true, composed: true, cancelable: true }));
        const pasted = await done;
        return { dropped, pasted };
      }, bytes);
      for (const detail of [results.dropped, results.pasted]) {
        assert.ok(maxDifference(detail.probabilities, expected[photo].probabilities) < TOLERANCE);
      }
    });

    test('the page stays responsive while the model runs', async () => {
      const { worstDelay, ms } = await page.evaluate(async () => {
        const canvas = new OffscreenCanvas(600, 450);
        const g = canvas.getContext('2d');
        g.fillStyle = '#c99585';
        g.fillRect(0, 0, 600, 450);
        const blob = await canvas.convertToBlob({ type: 'image/png' });
        // A 10 ms timer keeps firing on time unless something blocks the main thread.
        let last = performance.now();
        let worstDelay = 0;
        const timer = setInterval(() => {
          const now = performance.now();
          worstDelay = Math.max(worstDelay, now - last);
          last = now;
        }, 10);
        const details = [];
        for (let i = 0; i < 5; i++) details.push(await document.querySelector('skin-lesion-classifier').classify(blob));
        clearInterval(timer);
        return { worstDelay, ms: details.reduce((a, d) => a + d.ms, 0) };
      });
      assert.ok(worstDelay < 100, `the main thread stalled for ${worstDelay.toFixed(0)} ms while ${ms.toFixed(0)} ms of inference ran`);
    });

    test('no console errors, no CSP violations, no request leaves the origin', () => {
      assert.deepEqual(log.errors, []);
      assert.deepEqual(log.violations, []);
      assertSameOrigin(log);
    });
  });
}

test('auto runs on the CPU when the only WebGPU adapter is a software one', async () => {
  const { page, log } = await openPage(browser, `${server.origin}/`);
  const adapter = await page.evaluate(async () => {
    const a = await navigator.gpu?.requestAdapter();
    return a ? `${a.info.vendor} ${a.info.architecture}` : null;
  });
  assert.match(adapter, /swiftshader/i, 'this test expects headless Chromium\'s SwiftShader adapter');
  assert.equal(await widgetReady(page), 'cpu');
  const status = await page.evaluate(() => document.querySelector('skin-lesion-classifier').shadowRoot.querySelector('.status').textContent);
  assert.match(status, /CPU \(WebAssembly\)/);
  assert.deepEqual(log.errors, []);
  await page.context().close();
});
