// The two wasm modules' JavaScript API (`WebClassifier`), as dist/ ships them, in Debian's
// Chromium without the page around them: the shipped model runs on WebGPU (SwiftShader) and on
// the CPU module and both give the same probabilities; RGBA pixels and an encoded photo give
// the same input; views and saliency maps split between two classifiers (what a worker and its
// helper do) give the whole answer; patient data changes the answer as the model's tables say
// and bad patient data is refused; bad photos, bad requests and bad model files are errors
// with the names the worker acts on, and the model keeps working after them.
//
// These ran as wasm-bindgen tests of a third build of the crate for wasm; here they test the
// modules the page loads (`web/build.mjs`'s optimised builds), and CI builds nothing more.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CLASSES, launch, openPage, serve } from './harness.mjs';

let server;
let browser;
let page;

before(async () => {
  server = await serve();
  browser = await launch();
  // A document of the page's origin without the page (nothing else loads a model meanwhile).
  ({ page } = await openPage(browser, `${server.origin}/no-page-here`));
  await page.evaluate(async () => {
    const cpu = await import('/skin-lesion.js');
    const webgpu = await import('/skin-lesion-webgpu.js');
    await Promise.all([cpu.default(), webgpu.default()]);
    const [config, weights] = await Promise.all([
      fetch('/config.json').then((r) => r.text()),
      fetch('/model.bpk').then((r) => r.arrayBuffer()).then((b) => new Uint8Array(b)),
    ]);
    /** A lesion-like picture, 200x150 RGBA: a dark brown blob with a ragged rim on pinkish skin. */
    const lesion = (seed) => {
      const [w, h] = [200, 150];
      const rgba = new Uint8Array(w * h * 4);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const r = Math.hypot(x - 100, y - 75) + 6 * ((x * 7 + y * 13 + seed) % 5);
          const rgb = r < 45 + seed ? [90 + (x % 20), 55, 40 + (y % 15)] : [215, 160, 150 + (seed % 30)];
          rgba.set([...rgb, 255], (y * w + x) * 4);
        }
      }
      return { rgba, width: w, height: h };
    };
    /** The same picture as PNG bytes. */
    const png = async ({ rgba, width, height }) => {
      const canvas = new OffscreenCanvas(width, height);
      canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
      const blob = await canvas.convertToBlob({ type: 'image/png' });
      return new Uint8Array(await blob.arrayBuffer());
    };
    const load = (backend, glue = backend === 'webgpu' ? webgpu : cpu) => glue.WebClassifier.load(config, weights, backend);
    /** What a worker does alone: prepare, every view, answer. */
    const classify = async (model, bytes) => {
      const input = model.prepare(bytes);
      return model.answer(await model.viewSums(input, 0, model.views));
    };
    /** The name of the error `run` throws or rejects with, or 'none'. */
    const errorName = async (run) => {
      try {
        await run();
        return 'none';
      } catch (error) {
        return error.name;
      }
    };
    window.t = { cpu, webgpu, config, weights, lesion, png, load, classify, errorName };
  });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('WebGPU and the CPU module give the same probabilities for the shipped model', async () => {
  const shown = await page.evaluate(async () => {
    const [gpu, cpu] = [await t.load('webgpu'), await t.load('cpu')];
    const answers = [];
    for (const seed of [0, 7, 19]) {
      const bytes = await t.png(t.lesion(seed));
      answers.push({ gpu: (await t.classify(gpu, bytes)).probabilities, cpu: (await t.classify(cpu, bytes)).probabilities });
    }
    return { backends: [gpu.backend, cpu.backend], answers };
  });
  assert.deepEqual(shown.backends, ['webgpu', 'cpu']);
  for (const { gpu, cpu } of shown.answers) {
    assert.equal(cpu.length, CLASSES.length);
    assert.ok(Math.abs(cpu.reduce((a, b) => a + b, 0) - 1) < 1e-4, `${cpu}`);
    const diff = Math.max(...gpu.map((g, i) => Math.abs(g - cpu[i])));
    assert.ok(diff < 1e-4, `webgpu ${gpu} vs cpu ${cpu}`);
  }
  // Different pictures, different answers: the network really ran on each input.
  const [a, b, c] = shown.answers.map((x) => x.cpu);
  assert.notDeepEqual(a, b);
  assert.notDeepEqual(b, c);
});

test('RGBA pixels give the same input as the encoded photo; pixels without a height are refused', async () => {
  const result = await page.evaluate(async () => {
    const model = await t.load('cpu');
    const picture = t.lesion(3);
    const fromPng = model.prepare(await t.png(picture));
    const fromPixels = model.prepare(picture.rgba, picture.width, picture.height);
    const same = fromPng.length === fromPixels.length && fromPng.every((v, i) => v === fromPixels[i]);
    return { same, length: fromPng.length, error: await t.errorName(() => model.prepare(picture.rgba, picture.width)) };
  });
  assert.ok(result.length > 0);
  assert.ok(result.same, 'the PNG and its pixels were prepared differently');
  assert.equal(result.error, 'InputError');
});

test('views and saliency maps split between two classifiers give the whole answer and map', async () => {
  const r = await page.evaluate(async () => {
    const [one, two] = [await t.load('cpu'), await t.load('cpu')];
    const input = one.prepare(await t.png(t.lesion(5)));
    const views = one.views;
    const half = views / 2;
    const whole = one.answer(await one.viewSums(input, 0, views));
    const first = await one.viewSums(input, 0, half);
    const second = await two.viewSums(input, half, half);
    const split = one.answer(new Float32Array([...first, ...second]));
    // A map averages the first saliencyViews of the views (at most 4: src/model/views.rs).
    const mapViews = one.saliencyViews;
    const mapHalf = mapViews / 2;
    const wholeMap = one.saliencyMap(await one.saliencySums(input, whole.top, 0, mapViews));
    const mapParts = [await one.saliencySums(input, whole.top, 0, mapHalf), await two.saliencySums(input, whole.top, mapHalf, mapHalf)];
    const splitMap = one.saliencyMap(new Float32Array([...mapParts[0], ...mapParts[1]]));
    const name = t.errorName;
    return {
      views,
      mapViews,
      whole,
      split,
      side: Math.sqrt(wholeMap.length),
      inputSide: Math.sqrt(input.length / 3),
      mapDiff: Math.max(...wholeMap.map((v, i) => Math.abs(v - splitMap[i]))),
      mapRange: [Math.min(...wholeMap), Math.max(...wholeMap)],
      errors: {
        beyondViews: await name(() => one.viewSums(input, half, views)),
        wrongInput: await name(() => one.viewSums(input.slice(1), 0, 1)),
        partOfViews: await name(() => one.answer(first)),
        notSums: await name(() => one.answer(new Float32Array(5))),
        mapOfPart: await name(() => one.saliencyMap(mapParts[0])),
        mapNotSums: await name(() => one.saliencyMap(new Float32Array([1, 2, 0.5]))),
        noClass: await name(() => one.saliencySums(input, 'xyz', 0, views)),
      },
    };
  });
  assert.ok(r.views >= 2, `${r.views} views`);
  assert.equal(r.mapViews, Math.min(r.views, 4), 'a saliency map averages at most 4 views');
  assert.equal(r.whole.top, r.split.top);
  const diff = Math.max(...r.whole.probabilities.map((p, i) => Math.abs(p - r.split.probabilities[i])));
  assert.ok(diff < 1e-5, `whole ${r.whole.probabilities} vs split ${r.split.probabilities}`);
  assert.equal(r.side, r.inputSide, 'one map value per pixel of the crop');
  // Scaled from 0 (the weakest cell) to 1 (the strongest), interpolated between cell centres.
  const [low, high] = r.mapRange;
  assert.ok(low >= 0 && low < 0.1 && high > 0.9 && high <= 1, `map from ${low} to ${high}`);
  assert.ok(r.mapDiff < 1e-5, `the split map differs by ${r.mapDiff}`);
  for (const [what, name] of Object.entries(r.errors)) assert.equal(name, 'InputError', what);
});

test('patient data: the shipped model lists its fields, weighs them in, and refuses what it cannot use', async () => {
  const r = await page.evaluate(async () => {
    const model = await t.load('cpu');
    const input = model.prepare(await t.png(t.lesion(2)));
    const sums = await model.viewSums(input, 0, model.views);
    const answer = (patient) => model.answer(sums, patient);
    const name = (patient) => t.errorName(() => answer(patient));
    return {
      fields: model.patientFields(),
      plain: answer(),
      nothing: [answer({}), answer(null), answer({ age: '', sex: '', site: 'unknown' })],
      given: answer({ age: 70, sex: 'male', site: 'back' }),
      ageAsText: answer({ age: '70', sex: 'male', site: 'back' }),
      siteOnly: answer({ site: 'lower-extremity' }),
      errors: await Promise.all([{ age: 150 }, { age: 'old' }, { sex: 'x' }, { site: 'moon' }, '70, male'].map(name)),
    };
  });
  assert.equal(r.fields.maxAge, 120);
  assert.deepEqual(r.fields.sexes, ['female', 'male']);
  assert.equal(r.fields.sites.length, 14);
  assert.ok(r.fields.sites.includes('lower extremity'));
  assert.equal(r.plain.patientData, null);
  for (const same of r.nothing) assert.deepEqual(same, r.plain, 'no patient data is the photo\'s answer');
  assert.equal(r.given.patientData, 'age, sex, body site');
  assert.equal(r.siteOnly.patientData, 'body site');
  assert.deepEqual(r.ageAsText, r.given);
  const moved = Math.max(...r.given.probabilities.map((p, i) => Math.abs(p - r.plain.probabilities[i])));
  assert.ok(moved > 1e-3, `patient data moved no probability (${moved})`);
  assert.ok(Math.abs(r.given.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-4);
  // The out-of-distribution verdict is the photo's alone.
  assert.equal(r.given.oodScore, r.plain.oodScore);
  assert.deepEqual(r.errors, ['InputError', 'InputError', 'InputError', 'InputError', 'InputError']);
});

test('bad photos are InputErrors and the model keeps working', async () => {
  const r = await page.evaluate(async () => {
    const model = await t.load('cpu');
    const bytes = await t.png(t.lesion(1));
    const bad = [new Uint8Array(0), new TextEncoder().encode('not an image'), bytes.slice(0, bytes.length / 2)];
    const names = [];
    for (const b of bad) names.push(await t.errorName(() => t.classify(model, b)));
    names.push(await t.errorName(() => model.prepare(new Uint8Array(5), 3, 3)));
    return { names, after: (await t.classify(model, bytes)).probabilities.length };
  });
  assert.deepEqual(r.names, ['InputError', 'InputError', 'InputError', 'InputError']);
  assert.equal(r.after, CLASSES.length);
});

test('weights of another architecture or junk are ModelErrors, an unknown backend a BackendError', async () => {
  const names = await page.evaluate(async () => {
    const config = JSON.parse(t.config);
    config.network = { architecture: 'lesion_net', base_width: 32, stages: 4, convs_per_stage: 1, stem: 2, dropout: 0.3 };
    const load = (json, weights, backend) => t.errorName(() => t.cpu.WebClassifier.load(json, weights, backend));
    return [
      await load(JSON.stringify(config), t.weights, 'cpu'),
      await load(t.config, new TextEncoder().encode('junk'.repeat(10)), 'cpu'),
      await load(t.config, t.weights, 'tpu'),
      await load(t.config, t.weights, 'webgpu'),
    ];
  });
  // The CPU module has no WebGPU backend: a BackendError too, which the worker falls back on.
  assert.deepEqual(names, ['ModelError', 'ModelError', 'BackendError', 'BackendError']);
});

test('the classes are the config\'s, in the model\'s order', async () => {
  const codes = await page.evaluate(async () => (await t.load('cpu')).classes().map((c) => c.code));
  assert.deepEqual(codes, CLASSES);
});
