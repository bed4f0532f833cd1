// The inference worker: loads a wasm module and the model once, then classifies photos off the
// main thread so the page never freezes. Spoken to only by skin-lesion-classifier.js (and, as
// a helper, by another instance of itself).
//
// Messages in:  {id, type: "load", model: URL, backend: "auto" | "webgpu" | "cpu"}
//               {id, type: "classify", bytes: ArrayBuffer, patient?} or {..., rgba: ArrayBuffer, width, height}
//               (patient: {age, sex, site}, each optional, for a model with patient tables)
//               {id, type: "saliency"}  (where the network looked, for the last photo classified)
//               {id, type: "answerAgain", token, patient?}  (the last photo's answer with other
//               patient data, from the views already run; token: what its classify answered)
//               {id, type: "sums", input: Float32Array, first, count}  (from a parent worker)
//               {id, type: "saliencySums", input: Float32Array, code, first, count}  (likewise)
//               {id, type: "trap"}  (test hook: makes the wasm module trap, as a bug would)
// Messages out: {id, ok: true, result} | {id, ok: false, error: {name, message}}
//
// Two modules are built from the same crate: `skin-lesion` (the CPU backend only, what most
// visitors need) and `skin-lesion-webgpu` (WebGPU as well). The worker decides which one to
// fetch, the one place that sees the GPU adapter: WebGPU only when asked for, or when `auto`
// finds a hardware adapter.
//
// On the CPU the model runs each photo in several orientations (test-time views), one after the
// other on wasm's single thread. So a CPU worker starts a helper worker of its own (this same
// script) once it is ready, and hands it half of each photo's views, for the answer and for the
// saliency map: the two halves run on two cores and their sums are combined in Rust. Until the
// helper is ready, or if it ever fails, the worker runs every view itself.
import { WorkerLink, createWorker } from './worker-link.js';

const MODULES = { cpu: 'skin-lesion', webgpu: 'skin-lesion-webgpu' };

let model = null; // {classifier, backend, glue}
let files = null; // {config, weights, preference}: kept for a WebGPU -> CPU fallback
let cpuModule = null; // the compiled CPU module, handed to the helper
let helper = null; // a WorkerLink to the helper once it has loaded the model
let last = null; // {input, sums, top, token, workers, ms} of the last photo classified: its saliency map, its answer again
let photos = 0; // photos classified here: the last one's token is `${WORKER_ID}-${photos}`
/** Tells this worker's tokens from those of the worker before a restart, whose count began at 0 too. */
const WORKER_ID = Math.random().toString(36).slice(2);

/**
 * Downloads are tried this often before the model fails to load. Chromium fails one of two
 * downloads of one file that run at once (net::ERR_CACHE_WRITE_FAILURE, seen when a worker
 * restarted while the service worker was caching model.bpk); a flaky network does the same.
 */
const DOWNLOAD_ATTEMPTS = 3;
const RETRY_PAUSE_MS = 200;

/**
 * `read(response)` of a successful response for `url`, downloading again when the request or
 * the body's transfer fails; an HTTP error is final. Errors are ModelErrors that name `url`.
 */
async function download(url, read) {
  let failure;
  for (let attempt = 1; attempt <= DOWNLOAD_ATTEMPTS; attempt++) {
    if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS * (attempt - 1)));
    let response;
    try {
      response = await fetch(url);
    } catch (error) {
      failure = error;
      continue;
    }
    if (!response.ok) throw named('ModelError', `could not download ${url}: HTTP ${response.status}`);
    try {
      return await read(response);
    } catch (error) {
      if (error.name === 'ModelError') throw error;
      failure = error;
    }
  }
  const tries = DOWNLOAD_ATTEMPTS > 1 ? ` (tried ${DOWNLOAD_ATTEMPTS} times)` : '';
  throw named('ModelError', `could not download ${url}: ${failure.message}${tries}`);
}

async function fetchBytes(url) {
  return download(url, async (response) => new Uint8Array(await response.arrayBuffer()));
}

function named(name, message) {
  const error = new Error(message);
  error.name = name;
  return error;
}

/**
 * The wasm-bindgen glue of module `kind`, initialised: with `compiled` when a parent worker
 * handed the module over, else compiled here (streaming when served as application/wasm).
 */
async function loadModule(kind, compiled) {
  const name = MODULES[kind];
  const glue = await import(new URL(`./${name}.js`, import.meta.url).href);
  const module = compiled ?? await compileWasm(new URL(`./${name}_bg.wasm`, import.meta.url));
  await glue.default({ module_or_path: module });
  return { glue, module };
}

/**
 * The compiled module at `url`: streamed when served as application/wasm, else from its bytes.
 * A module that does not compile is final; a transfer that fails is downloaded again.
 */
async function compileWasm(url) {
  return download(url, async (response) => {
    try {
      return await WebAssembly.compileStreaming(response.clone());
    } catch {
      const bytes = await response.arrayBuffer();
      try {
        return await WebAssembly.compile(bytes);
      } catch (error) {
        throw named('ModelError', `${url} is not a usable WebAssembly module: ${error.message}`);
      }
    }
  });
}

async function load({ model: base, backend, shared }) {
  if (shared) {
    // A helper: the parent worker hands over the compiled module and the model files, so
    // nothing is downloaded or compiled twice.
    files = { config: shared.config, weights: shared.weights, preference: 'cpu' };
    model = await start('cpu', loadModule('cpu', shared.module));
    return info();
  }
  // Which module runs the model is known before the weights arrive: it downloads and compiles
  // meanwhile rather than after them. Its failure is reported where it is awaited, below.
  const gpu = Promise.resolve(backend === 'webgpu' || (backend === 'auto' && hardwareGpu()));
  const module = gpu.then((webgpu) => loadModule(webgpu ? 'webgpu' : 'cpu'));
  module.catch(() => {});
  const [config, weights] = await Promise.all([
    fetchBytes(new URL('config.json', base)),
    fetchBytes(new URL('model.bpk', base)),
  ]);
  files = { config: new TextDecoder().decode(config), weights, preference: backend };
  const webgpu = await gpu;
  if (webgpu) {
    try {
      model = await start('webgpu', module);
    } catch (error) {
      if (backend === 'webgpu' || error.name === 'ModelError') throw error;
      console.warn(`WebGPU unavailable, using the CPU: ${error.message}`);
    }
  }
  model ??= await start('cpu', webgpu ? undefined : module);
  if (model.backend === 'cpu') startHelper();
  return info();
}

/** What the page needs to know about the loaded model. */
function info() {
  const { classifier } = model;
  return {
    backend: model.backend,
    classes: classifier.classes(),
    cropShare: classifier.cropShare,
    checksum: classifier.checksum,
    patient: classifier.patientFields(),
  };
}

/**
 * Load the model on `backend` and warm it up, with its module: `loading`, a `loadModule` under
 * way, or fetched now.
 */
async function start(backend, loading = loadModule(backend)) {
  const { glue, module } = await loading;
  if (backend === 'cpu') cpuModule = module;
  const classifier = await glue.WebClassifier.load(files.config, files.weights, backend);
  return { classifier, backend, glue };
}

/**
 * Start the helper in the background (the widget is ready without it), where it can help: more
 * than one view and more than one core.
 */
function startHelper() {
  if (model.classifier.views < 2 || (self.navigator.hardwareConcurrency ?? 1) < 2) return;
  let client;
  try {
    client = new WorkerLink(createWorker(new URL(import.meta.url), { name: 'skin-lesion-helper' }), (m, name) => named(name, m));
    client.worker.onerror = (event) => dropHelper(client, named('Crash', event.message || 'the helper worker failed'));
  } catch (error) {
    console.warn(`no helper worker, every view runs here: ${error.message}`);
    return;
  }
  const shared = { module: cpuModule, config: files.config, weights: files.weights };
  client.request({ type: 'load', backend: 'cpu', shared }).then(
    () => { helper = client; },
    (error) => {
      console.warn(`the helper worker did not load, every view runs here: ${error.message}`);
      dropHelper(client, error);
    },
  );
}

/** Fail the helper's waiting requests and stop it; the worker runs every view from now on. */
function dropHelper(client, error) {
  client.close(error);
  if (helper === client) helper = null;
}

/**
 * Whether WebGPU offers a hardware adapter. A software one (SwiftShader in a GPU-less VM or
 * headless Chrome, lavapipe, llvmpipe) emulates the GPU on the CPU: measured on this project's
 * 2-core machine it runs the model 20 to 30 times slower than the wasm CPU path (about 1.1 s
 * against 39-53 ms a photo), so `auto` skips it.
 */
async function hardwareGpu() {
  if (!self.navigator.gpu) return false;
  const adapter = await self.navigator.gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  if (!adapter) return false;
  const info = adapter.info ?? {};
  const name = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  return !info.isFallbackAdapter && !/swiftshader|lavapipe|llvmpipe|software/i.test(name);
}

/** Decode and preprocess a photo message into the network's input. */
function prepare(classifier, message) {
  return message.rgba
    ? classifier.prepare(new Uint8Array(message.rgba), message.width, message.height)
    : classifier.prepare(new Uint8Array(message.bytes));
}

async function run(message) {
  const t0 = performance.now();
  const { classifier } = model;
  const input = prepare(classifier, message);
  const { sums, workers } = await overViews(
    (first, count) => classifier.viewSums(input, first, count),
    (first, count) => ({ type: 'sums', input, first, count }),
  );
  const answer = classifier.answer(sums, message.patient ?? null);
  const ms = performance.now() - t0;
  last = { input, sums, top: answer.top, token: `${WORKER_ID}-${++photos}`, workers, ms };
  return { ...answer, token: last.token, backend: model.backend, ms, photoMs: ms, workers };
}

/**
 * The last photo's answer with other patient data, from the view sums its classify left: the
 * answer depends on the patient, the network's views do not, so nothing runs again (about
 * 120-140 ms a photo on the CPU here at 8 views, seconds on a software GPU). `token` names
 * the photo the caller means; if another photo was classified since (by any caller of this
 * model) or the worker restarted, it is an InputError and the caller classifies its photo
 * again.
 */
async function answerAgain({ token, patient }) {
  if (!model) throw named('ModelError', 'the model is not loaded');
  if (!last || last.token !== token) {
    throw named('InputError', 'that photo is no longer the last one classified: classify it again');
  }
  const t0 = performance.now();
  const answer = model.classifier.answer(last.sums, patient ?? null);
  last.top = answer.top;
  const ms = performance.now() - t0;
  return { ...answer, token, backend: model.backend, ms, photoMs: last.ms, workers: last.workers };
}

/**
 * Sums over the model's first `views` views (all of them unless told): `local(first, count)` here, or on the CPU with a helper
 * the second half of the views on it (the request `remote(first, count)`, whose `input` is
 * sent as a copy) and the first half here, at the same time. Resolves to {sums, workers}: the
 * parts laid end to end, and workers 1 if there was no helper or it failed and this worker did
 * it all.
 */
async function overViews(local, remote, views = model.classifier.views) {
  if (!helper || model.backend !== 'cpu') return { sums: await local(0, views), workers: 1 };
  const half = views / 2;
  const message = remote(half, half);
  const copy = message.input.slice();
  const link = helper;
  const far = link.request({ ...message, input: copy }, [copy.buffer]);
  const near = await local(0, half);
  let farSums;
  let workers = 2;
  try {
    farSums = await far;
  } catch (error) {
    console.warn(`the helper worker failed, every view runs here from now on: ${error.message}`);
    dropHelper(link, error);
    farSums = await local(half, half);
    workers = 1;
  }
  const sums = new Float32Array(near.length + farSums.length);
  sums.set(near);
  sums.set(farSums, near.length);
  return { sums, workers };
}

async function classify(message) {
  if (!model) throw named('ModelError', 'the model is not loaded');
  try {
    return await run(message);
  } catch (error) {
    // WebGPU failed mid-session (device lost, driver error): finish on the CPU, for good.
    if (error.name !== 'BackendError' || model.backend !== 'webgpu' || files.preference !== 'auto') throw error;
    console.warn(`WebGPU failed, switching to the CPU: ${error.message}`);
    model = await start('cpu');
    return await run(message);
  }
}

/** The last photo's map of where the network looked for its top class ({map, side}). */
async function saliency() {
  if (!model || !last) throw named('InputError', 'no photo has been classified yet');
  const t0 = performance.now();
  const { classifier } = model;
  const { input, top } = last;
  const { sums, workers } = await overViews(
    (first, count) => classifier.saliencySums(input, top, first, count),
    (first, count) => ({ type: 'saliencySums', input, code: top, first, count }),
    classifier.saliencyViews,
  );
  const map = classifier.saliencyMap(sums);
  return { map, side: Math.round(Math.sqrt(map.length)), ms: performance.now() - t0, workers };
}

async function sums({ input, first, count }) {
  if (!model) throw named('ModelError', 'the model is not loaded');
  return await model.classifier.viewSums(input, first, count);
}

async function saliencySums({ input, code, first, count }) {
  if (!model) throw named('ModelError', 'the model is not loaded');
  return await model.classifier.saliencySums(input, code, first, count);
}

const HANDLERS = {
  load,
  classify,
  answerAgain,
  saliency,
  sums,
  saliencySums,
  trap: () => model.glue.trapForTests(),
};

self.onmessage = async ({ data }) => {
  try {
    const handler = HANDLERS[data.type];
    if (!handler) throw named('InputError', `unknown request ${data.type}`);
    self.postMessage({ id: data.id, ok: true, result: await handler(data) });
  } catch (error) {
    // A wasm trap (RuntimeError) leaves the module unusable; the main thread replaces the worker.
    const name = error instanceof WebAssembly.RuntimeError ? 'Crash' : error?.name ?? 'Error';
    self.postMessage({ id: data.id, ok: false, error: { name, message: String(error?.message ?? error) } });
  }
};
