// The inference worker: loads the wasm module and the model once, then classifies photos off the
// main thread so the page never freezes. Spoken to only by skin-lesion-classifier.js.
//
// Messages in:  {id, type: "load", model: URL, backend: "auto" | "webgpu" | "cpu"}
//               {id, type: "classify", bytes: ArrayBuffer}
//               {id, type: "classify", rgba: ArrayBuffer, width, height}
//               {id, type: "logits", input: Float32Array, first, count}  (from a parent worker)
// Messages out: {id, ok: true, result} | {id, ok: false, error: {name, message}}
//
// On the CPU the model runs each photo in several orientations (test-time views), one after
// the other on wasm's single thread. So a CPU worker starts a helper worker of its own (this
// same script) once it is ready, and hands it half of each photo's views: the two halves run on
// two cores and their logit sums are combined in Rust. Until the helper is ready, or if it ever
// fails, the worker runs every view itself.
import init, { WebClassifier, classes } from './skin-lesion.js';
import { WorkerLink, createWorker } from './worker-link.js';

let model = null; // {classifier, backend}
let files = null; // {config, weights, preference}: kept for a WebGPU -> CPU fallback
let helper = null; // a WorkerLink to the helper once it has loaded the model

/** A successful response for `url`, or a ModelError that names it. */
async function download(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw named('ModelError', `could not download ${url}: ${error.message}`);
  }
  if (!response.ok) {
    throw named('ModelError', `could not download ${url}: HTTP ${response.status}`);
  }
  return response;
}

async function fetchBytes(url) {
  return new Uint8Array(await (await download(url)).arrayBuffer());
}

function named(name, message) {
  const error = new Error(message);
  error.name = name;
  return error;
}

async function load({ model: base, backend, shared }) {
  if (shared) {
    // A helper: the parent worker hands over the compiled module and the model files, so
    // nothing is downloaded or compiled twice.
    await init({ module_or_path: shared.module });
    files = { config: shared.config, weights: shared.weights, preference: 'cpu' };
    model = await start('cpu');
    return { backend: model.backend, classes: classes() };
  }
  const [module, config, weights] = await Promise.all([
    compileWasm(new URL('./skin-lesion_bg.wasm', import.meta.url)),
    fetchBytes(new URL('config.json', base)),
    fetchBytes(new URL('model.bpk', base)),
  ]);
  await init({ module_or_path: module });
  files = { config: new TextDecoder().decode(config), weights, preference: backend, module };
  if (backend === 'webgpu' || (backend === 'auto' && (await hardwareGpu()))) {
    try {
      model = await start('webgpu');
    } catch (error) {
      if (backend === 'webgpu' || error.name === 'ModelError') throw error;
      console.warn(`WebGPU unavailable, using the CPU: ${error.message}`);
    }
  }
  model ??= await start('cpu');
  if (model.backend === 'cpu') startHelper();
  return { backend: model.backend, classes: classes() };
}

/** Compile the wasm module ourselves (streaming when served as application/wasm), so that it
 * can be handed to a helper worker. */
async function compileWasm(url) {
  const response = await download(url);
  try {
    return await WebAssembly.compileStreaming(response.clone());
  } catch {
    return await WebAssembly.compile(await response.arrayBuffer());
  }
}

/**
 * Start the helper in the background (the widget is ready without it). Only where it can help:
 * more than one view, more than one core, and not inside a helper itself.
 */
function startHelper() {
  if (self.name === 'skin-lesion-helper' || model.classifier.views < 2 || (self.navigator.hardwareConcurrency ?? 1) < 2) return;
  let client;
  try {
    client = new WorkerLink(createWorker(new URL(import.meta.url), { name: 'skin-lesion-helper' }), (m, name) => named(name, m));
    client.worker.onerror = (event) => dropHelper(client, named('Crash', event.message || 'the helper worker failed'));
  } catch (error) {
    console.warn(`no helper worker, every view runs here: ${error.message}`);
    return;
  }
  const shared = { module: files.module, config: files.config, weights: files.weights };
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
  client.failAll(error);
  client.worker.terminate();
  if (helper === client) helper = null;
}

/**
 * Whether WebGPU offers a hardware adapter. A software one (SwiftShader in a GPU-less VM or
 * headless Chrome, lavapipe, llvmpipe) emulates the GPU on the CPU: measured on this project's
 * 2-core machine it runs the model 15 to 20 times slower than the wasm CPU backend (about 1 s
 * against 50-66 ms a photo with 8 views on one worker), so `auto` skips it.
 */
async function hardwareGpu() {
  if (!self.navigator.gpu) return false;
  const adapter = await self.navigator.gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  if (!adapter) return false;
  const info = adapter.info ?? {};
  const name = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  return !info.isFallbackAdapter && !/swiftshader|lavapipe|llvmpipe|software/i.test(name);
}

async function start(backend) {
  const classifier = await WebClassifier.load(files.config, files.weights, backend);
  return { classifier, backend };
}

async function run(message) {
  const t0 = performance.now();
  const { classifier } = model;
  const { probabilities, workers } = helper && model.backend === 'cpu'
    ? await withHelper(classifier, message)
    : {
      probabilities: message.bytes
        ? await classifier.classifyEncoded(new Uint8Array(message.bytes))
        : await classifier.classifyRgba(message.width, message.height, new Uint8Array(message.rgba)),
      workers: 1,
    };
  return { probabilities: Array.from(probabilities), backend: model.backend, ms: performance.now() - t0, workers };
}

/**
 * The second half of the views on the helper, the first half here, at the same time; resolves
 * to {probabilities, workers}, with workers 1 if the helper failed and this worker did it all.
 */
async function withHelper(classifier, message) {
  const input = message.bytes
    ? classifier.prepareEncoded(new Uint8Array(message.bytes))
    : classifier.prepareRgba(message.width, message.height, new Uint8Array(message.rgba));
  const half = classifier.views / 2;
  const copy = input.slice();
  const link = helper;
  const remote = link.request({ type: 'logits', input: copy, first: half, count: half }, [copy.buffer]);
  const local = await classifier.logitSum(input, 0, half);
  let far;
  let workers = 2;
  try {
    far = await remote;
  } catch (error) {
    console.warn(`the helper worker failed, every view runs here from now on: ${error.message}`);
    dropHelper(link, error);
    far = await classifier.logitSum(input, half, half);
    workers = 1;
  }
  const sums = new Float32Array(local.length + far.length);
  sums.set(local);
  sums.set(far, local.length);
  return { probabilities: classifier.combine(sums), workers };
}

async function logits({ input, first, count }) {
  if (!model) throw named('ModelError', 'the model is not loaded');
  return await model.classifier.logitSum(input, first, count);
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

self.onmessage = async ({ data }) => {
  try {
    const result = data.type === 'load' ? await load(data) : data.type === 'logits' ? await logits(data) : await classify(data);
    self.postMessage({ id: data.id, ok: true, result });
  } catch (error) {
    // A wasm trap (RuntimeError) leaves the module unusable; the main thread restarts the worker.
    const name = error instanceof WebAssembly.RuntimeError ? 'Crash' : error?.name ?? 'Error';
    self.postMessage({ id: data.id, ok: false, error: { name, message: String(error?.message ?? error) } });
  }
};
